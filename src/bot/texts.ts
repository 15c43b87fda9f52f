// Every user-facing bot text in one place: short, actionable, never echoing input.
import { BOT_COMMANDS } from "./commands";

export const WELCOME = [
  "Welcome to Warden 🛡",
  "",
  "A non-custodial trading assistant for Binance USD-M, Bybit and Hyperliquid futures.",
  "You connect trade-only API keys; Warden never holds funds and refuses any key that can withdraw.",
  "",
  "Send /help to see what you can do.",
].join("\n");

export function helpText(): string {
  return ["Commands:", ...BOT_COMMANDS.map((c) => `/${c.command} — ${c.description}`)].join("\n");
}

export function unknownCommand(command: string): string {
  const shown = command.length > 32 ? `${command.slice(0, 32)}…` : command;
  return `Unknown command ${shown}.\n\n${helpText()}`;
}

export const NOT_A_COMMAND = "I answer commands. Send /help for the list.";

export function slowDown(seconds: number): string {
  return `Too many requests. Please wait ${seconds} s and try again.`;
}
