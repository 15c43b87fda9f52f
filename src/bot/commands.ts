// Commands shown in Telegram's menu (setMyCommands). Features add theirs here.
export const BOT_COMMANDS = [
  { command: "start", description: "Start or link your Warden account" },
  { command: "help", description: "What Warden can do and how" },
  { command: "connect", description: "Connect a trade-only exchange key (or the paper venue)" },
  { command: "keys", description: "Your keys: list, rotate, revoke" },
  { command: "2fa", description: "Two-factor authentication: on, off, new backup codes" },
  { command: "link", description: "Link this Telegram account to a Warden web account" },
] as const;
