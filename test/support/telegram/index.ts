// The Telegram Bot API emulator lives in src/sandbox/telegram (the development sandbox serves
// it too); tests keep importing it from here.
export * from "../../../src/sandbox/telegram";
