// `/help <command>`: what each command does, its arguments and worked examples.
import { BOT_COMMANDS } from "./commands";
import { OPEN_USAGE } from "./order-command";
import { USAGE } from "./trade-commands";

const TOPICS: Record<string, string> = {
  start: "/start — creates your Warden account for this Telegram account, or greets you again.",
  help: "/help [command] — the list of commands, or how one works.\nExample: /help open",
  connect: [
    "/connect — adds a trade-only exchange key (Hyperliquid, Binance USD-M, Bybit) or a paper",
    "account. Warden refuses a key that can withdraw; the message with your secret is deleted.",
    "Example: /connect, then pick the venue.",
  ].join("\n"),
  keys: "/keys — your keys with their labels: rotate or revoke one with the buttons.",
  marginmode: [
    "/marginmode <key #> cross|isolated — the margin mode Warden sets on Hyperliquid before each",
    "order of that key (cross until you choose). Binance and Bybit keep theirs in their own app.",
    "Example: /marginmode 3 isolated",
  ].join("\n"),
  open: [
    "/open — shows an order with its margin, liquidation price and SL/TP, and sends it after",
    "you press Confirm (the button expires after 60 s).",
    OPEN_USAGE,
    "More examples: /open eth short 0.5 lev=3 · /open sol long 10% x2 · /open doge long $200",
  ].join("\n"),
  modify: [
    "/modify — changes the stop-loss, take-profit or size of an open trade; `none` removes a",
    "stop.",
    USAGE.modify,
    "Examples: /modify 12 sl=61000 · /modify 12 tp=none · /modify 12 size=0.005",
  ].join("\n"),
  close: [
    "/close — closes a trade by its id, every trade on a symbol, or all (asks to confirm);",
    "a percent closes part of it.",
    "Usage: /close <#id|symbol|all> [percent]",
    "Examples: /close #12 · /close btc 50 · /close all",
  ].join("\n"),
  positions: [
    "/positions (or /status) — each open position with its trade id, venue and key, size,",
    "entry, mark, unrealised P&L, SL, TP, liquidation price, leverage and age, with buttons to",
    "close, close half, move the stop to entry or change SL/TP.",
  ].join("\n"),
  trades: [
    "/trades [n] — your last n trades (default 10, at most 50), newest first; Older and Newer",
    "page through the rest.",
    "Examples: /trades · /trades 25",
  ].join("\n"),
  balance: "/balance — total and free balance on each of your keys.",
  profit: [
    "/profit [days] — closed trades, win rate, realised P&L, best and worst trade, average",
    "duration and profit factor; over all time or the last n days.",
    "Examples: /profit · /profit 30",
  ].join("\n"),
  daily:
    "/daily [n] — realised P&L and trades per day for the last n days (default 7).\nExample: /daily 14",
  weekly:
    "/weekly [n] — realised P&L and trades per week for the last n weeks (default 8).\nExample: /weekly 4",
  monthly:
    "/monthly [n] — realised P&L and trades per month for the last n months (default 6).\nExample: /monthly 12",
  performance:
    "/performance — realised P&L and trade count per symbol over all your closed trades.",
  notifications: [
    "/notifications — which trade notices you get (entries, partial fills, SL/TP moved, exits,",
    "stop loss and take profit hit, liquidations, liquidation warnings) and where (Telegram,",
    "email, web). Tap an event to switch it on or off, a channel to add or remove it.",
    "Email needs an address on your account.",
    "/notifications liquidation 5 — warn when the mark is within 5 % of the liquidation price.",
    "/notifications summary 20 — a daily summary at 20:00 UTC (off: /notifications summary off).",
  ].join("\n"),
  audit:
    "/audit — your last 20 audit entries: every open, change and close, with where it came from.",
  alerts: "/alerts — where security alerts reach you (Telegram, email, web) and the recent ones.",
  "2fa": [
    "/2fa — turns two-factor authentication on (scan the QR code, send a code).",
    "/2fa codes makes new backup codes; /2fa off turns it off.",
  ].join("\n"),
  link: "/link — a one-time code to link this Telegram account to your Warden web account.",
  settings: "/settings — a sign-in link to the web settings page.",
};

const ALIASES: Record<string, string> = { status: "positions" };

/** The explanation of one command (with or without the slash), or null when there is none. */
export function commandHelp(arg: string): string | null {
  const name = arg.trim().replace(/^\//, "").toLowerCase();
  const topic = ALIASES[name] ?? name;
  return Object.hasOwn(TOPICS, topic) ? (TOPICS[topic] ?? null) : null;
}

export function unknownHelpTopic(arg: string): string {
  const shown = arg.trim().slice(0, 32);
  return `No help for \`${shown}\`. Try /help open, or one of: ${BOT_COMMANDS.map((c) => c.command).join(", ")}.`;
}
