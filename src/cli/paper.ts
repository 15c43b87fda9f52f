// CLI area: the paper venue's price override (development and tests only).

import { config } from "./context";
import { PAPER_PRICE_USAGE, paperPriceCommand } from "./paper-price";
import type { Command } from "./registry";

export const PAPER_COMMANDS: Record<string, Command> = {
  "paper price": {
    usage: PAPER_PRICE_USAGE,
    summary: "set a paper symbol's price (not in production); paper stops are checked at once",
    run: async (args, io) => paperPriceCommand(await config(), args, io),
  },
};
