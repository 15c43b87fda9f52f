// Commands shown in Telegram's menu (setMyCommands). Features add theirs here.
export const BOT_COMMANDS = [
  { command: "start", description: "Start or link your Warden account" },
  { command: "help", description: "What Warden can do and how" },
  { command: "connect", description: "Connect a trade-only exchange key (or the paper venue)" },
  { command: "keys", description: "Your keys: list, rotate, revoke" },
  { command: "open", description: "Open a position: /open BTC long 0.01 [sl=…] [tp=…] [lev=…]" },
  { command: "modify", description: "Change SL/TP/size: /modify <id> [sl=…] [tp=…] [size=…]" },
  { command: "close", description: "Close a trade: /close <id|all>" },
  { command: "positions", description: "Open positions on your venues" },
  { command: "trades", description: "Your last trades" },
  { command: "balance", description: "Balances on your venues" },
  { command: "audit", description: "Your last 20 audit entries" },
  { command: "notifications", description: "Trade notices: which events, which channels" },
  { command: "alerts", description: "Where security alerts reach you" },
  { command: "2fa", description: "Two-factor authentication: on, off, new backup codes" },
  { command: "link", description: "Link this Telegram account to a Warden web account" },
  { command: "settings", description: "Open the web settings page" },
] as const;
