// A separate process that sends for the bot, as a worker or the bot role would: it fires
// SEND_COUNT messages to each chat in SEND_CHATS at once through Warden's Telegram sender with
// the shared Redis limits, then prints "sent N". Run with tsx by the limiter tests.
import { Redis } from "ioredis";
import { createTelegramSender } from "../../../src/infra/telegram";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const redis = new Redis(env("REDIS_URL"), { keyPrefix: env("REDIS_PREFIX") });
const api = createTelegramSender({ token: env("BOT_TOKEN"), apiRoot: env("API_ROOT"), redis });
const chats = env("SEND_CHATS").split(",").map(Number);
const count = Number(env("SEND_COUNT"));
const tag = env("SENDER_TAG");

process.stdout.write("ready\n");
await new Promise<void>((r) => process.stdin.once("data", () => r()));
await Promise.all(
  chats.flatMap((chat) =>
    Array.from({ length: count }, (_, i) => api.sendMessage(chat, `${tag} ${i}`)),
  ),
);
process.stdout.write(`sent ${chats.length * count}\n`);
redis.disconnect();
