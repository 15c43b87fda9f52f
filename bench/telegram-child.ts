// The Telegram emulator in a process of its own, so a benchmark's own event loop (workers,
// database, Redis) does not delay when the emulator sees a request: its 429 then judges the
// sender's pacing, not the benchmark's load. Options come from BENCH_TG_* variables; it prints
// one JSON line {apiRoot, controlUrl, token, statsUrl} and stops on SIGTERM or when stdin closes.
// GET statsUrl → {delivered, tooMany, chatsOver}, with ?arrivals the time of each sendMessage
// answered ok (ms since the epoch); POST statsUrl [ids] has those users write /start.
import { createServer } from "node:http";
import { startTelegramEmulator } from "../src/sandbox/telegram";

const num = (name: string) => {
  const v = process.env[name];
  return v === undefined ? undefined : Number(v);
};

const tg = await startTelegramEmulator({
  rateLimit: {
    globalPerSecond: num("BENCH_TG_GLOBAL_PER_SECOND"),
    perChatPerSecond: num("BENCH_TG_PER_CHAT_PER_SECOND"),
  },
  callLogLimit: 1_000,
});
const arrivals: number[] = [];
const chatsOver = new Set<number>();
const lastByChat = new Map<number, number>();
tg.subscribe((e) => {
  if (e.type !== "call" || e.call.method !== "sendMessage" || !e.call.ok) return;
  const chat = Number(e.call.params.chat_id);
  const last = lastByChat.get(chat);
  if (last !== undefined && e.call.at - last < 1000) chatsOver.add(chat);
  lastByChat.set(chat, e.call.at);
  arrivals.push(e.call.at);
});

const stats = createServer((req, res) => {
  if (req.method === "POST") {
    // Users who write /start to the bot: a JSON array of Telegram ids.
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      for (const id of JSON.parse(Buffer.concat(chunks).toString()) as number[])
        tg.user({ id, first_name: "U" }).sendText("/start");
      res.writeHead(204).end();
    });
    return;
  }
  req.resume();
  const body = JSON.stringify({
    delivered: arrivals.length,
    tooMany: tg.tooManyRequestsSent,
    chatsOver: chatsOver.size,
    arrivals: req.url?.includes("arrivals") ? arrivals : undefined,
  });
  res.writeHead(200, { "content-type": "application/json" }).end(body);
});
await new Promise<void>((r) => stats.listen(0, "127.0.0.1", r));
const address = stats.address();
const port = typeof address === "object" && address ? address.port : 0;

const stop = async () => {
  stats.close();
  await tg.close();
  process.exit(0);
};
process.once("SIGTERM", () => void stop());
process.stdin.on("end", () => void stop());
process.stdin.resume();
console.log(
  JSON.stringify({
    apiRoot: tg.apiRoot,
    controlUrl: tg.controlUrl,
    token: tg.token,
    statsUrl: `http://127.0.0.1:${port}/stats`,
  }),
);
