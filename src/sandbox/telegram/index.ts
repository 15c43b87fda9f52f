// Public entry of the Telegram Bot API emulator used by tests and the local web sandbox.

export { BotApiError } from "./api-error";
export {
  type ChatInit,
  type ChatSummary,
  type PressButtonOptions,
  type SendTextOptions,
  startTelegramEmulator,
  TelegramEmulator,
  type TelegramEmulatorOptions,
  type UserHandle,
  type UserInit,
} from "./emulator";
export type * from "./types";
export type { WebhookInfo, WebhookOptions } from "./update-queue";
