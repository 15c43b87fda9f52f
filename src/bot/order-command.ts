// The /open command as traders write it: `/open btc long 500usdt sl=58000 tp=70000 x5`. Every
// mistake answers with what was wrong, the usage and a worked example.
import { parseSize, type SizeSpec } from "../domain/trading/sizing";
import { coinOf } from "../domain/trading/symbols";
import type { Side } from "../domain/venues/types";
import { UsageError } from "./trade-commands";

export const OPEN_USAGE =
  "Usage: /open <symbol> <long|short> <size> [sl=<price>] [tp=<price>] [x<lev>|lev=<lev>] [key=<id>]\n" +
  "Size: 0.01 (coins), 500usdt or $500 (order value), 10% (of free margin).\n" +
  "Example: /open btc long 500usdt sl=58000 tp=70000 x5";

export interface OrderCommand {
  symbol: string;
  side: Side;
  size: SizeSpec;
  stopLoss?: number;
  takeProfit?: number;
  leverage?: number;
  credentialId?: string;
}

const wrong = (what: string) => new UsageError(`${what}\n\n${OPEN_USAGE}`);
const shown = (s: string) => `\`${s.slice(0, 24)}\``;

function price(name: string, raw: string): number {
  const v = raw.replaceAll(",", "");
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0))
    throw wrong(`\`${name}\` must be a price, got ${shown(raw)}.`);
  return n;
}

export function parseOrder(args: string): OrderCommand {
  const [symbol, side, size, ...rest] = args.trim().split(/\s+/).filter(Boolean);
  if (!symbol) throw wrong("Which market? The symbol is missing.");
  if (!coinOf(symbol))
    throw wrong(`${shown(symbol)} is not a symbol (try btc, BTCUSDT or BTC-PERP).`);
  const s = side?.toLowerCase();
  if (s !== "long" && s !== "short") {
    throw wrong(
      side
        ? `The side must be long or short, got ${shown(side)}.`
        : "The side (long or short) is missing.",
    );
  }
  if (!size) throw wrong("The size is missing.");
  const spec = parseSize(size);
  if (!spec) throw wrong(`The size must be like 0.01, 500usdt, $500 or 10%, got ${shown(size)}.`);
  const cmd: OrderCommand = { symbol, side: s, size: spec };
  const seen = new Set<string>();
  for (const part of rest) {
    const lev = /^x(\d+)$/i.exec(part);
    const m = lev ? ["", "lev", lev[1]!] : /^([a-z]+)=(.*)$/i.exec(part);
    if (!m) throw wrong(`I don't understand ${shown(part)}.`);
    const key = m[1]!.toLowerCase();
    const value = m[2]!;
    if (seen.has(key)) throw wrong(`\`${key}\` is given twice.`);
    seen.add(key);
    if (key === "sl") cmd.stopLoss = price("sl", value);
    else if (key === "tp") cmd.takeProfit = price("tp", value);
    else if (key === "lev") {
      if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > 125) {
        throw wrong(`Leverage must be a whole number from 1 to 125, got ${shown(value)}.`);
      }
      cmd.leverage = Number(value);
    } else if (key === "key") {
      const id = value.replace(/^#/, "");
      if (!/^\d{1,19}$/.test(id))
        throw wrong(`\`key\` must be a key id like 3, got ${shown(value)}.`);
      cmd.credentialId = id;
    } else throw wrong(`Unknown option \`${key}\` (sl, tp, lev, key).`);
  }
  return cmd;
}
