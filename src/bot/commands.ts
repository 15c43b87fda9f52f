// Commands shown in Telegram's menu (setMyCommands). Features add theirs here.
export const BOT_COMMANDS = [
  { command: "start", description: "Start or link your Warden account" },
  { command: "help", description: "What Warden can do and how" },
  { command: "2fa", description: "Two-factor authentication: on, off, new backup codes" },
  { command: "link", description: "Link this Telegram account to a Warden web account" },
] as const;
