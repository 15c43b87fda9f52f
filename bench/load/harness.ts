// The load harness: N simulated Telegram users drive the real bot through the Telegram emulator
// (/start, /connect → Paper, /positions, /open and /close on paper, /2fa) while M HTTP clients
// use the API (login, refresh, trades, positions), all at once, against Warden started as in
// production: separate processes, two api, one bot, two workers and a signer, sharing a scratch database
// and a Redis prefix. Afterwards it checks that every action a user saw acknowledged has
// exactly one audit row and one order at the (paper) venue, and that nothing is left half-done.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import bcrypt from "bcrypt";
import pg from "pg";
import { prehashPassword } from "../../src/domain/accounts/password";
import { ensureDatabase } from "../../src/infra/database";
import type { HistoryEntry } from "../../src/sandbox/telegram";
import {
  baseEnv,
  freePort,
  type Spawned,
  spawnProcess,
  waitForHttp,
} from "../../test/support/process";
import { startTelegramEmulator, type TelegramEmulator } from "../../test/support/telegram";
import { cleanRedisPrefix, dropBenchDatabase, testEnvForBench } from "../support";
import { type ApiClientScript, createApiClient } from "./api-clients";
import { Latencies } from "./latencies";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

export interface LoadOptions {
  telegramUsers: number;
  httpClients: number;
  /** Open/close rounds per HTTP client. */
  httpRounds?: number;
  /** How many Telegram users act at the same moment (the rest wait their turn). */
  concurrency?: number;
  /** Hard stop for the whole run. */
  deadlineMs?: number;
  /** bcrypt cost of the api processes; production's is 12. */
  bcryptCost?: number;
  log?: (line: string) => void;
}

export interface ConsistencyReport {
  acknowledgedOpens: number;
  acknowledgedCloses: number;
  /** Human-readable problems; empty when every acknowledged action is exactly once. */
  problems: string[];
}

export interface LoadReport {
  seconds: number;
  actions: number;
  latencies: Record<string, { n: number; p50: number; p95: number; p99: number }>;
  errors: string[];
  rssMB: Record<string, number>;
  consistency: ConsistencyReport;
  telegram429: number;
}

interface Ack {
  tradeId: string;
  user: string;
}

/**
 * The roles as production runs them, each its own process: api and bot trade through the signer
 * (intents), which alone decrypts exchange keys.
 */
const PROCESSES = [
  ["api-1", "api"],
  ["api-2", "api"],
  ["bot", "bot"],
  ["worker-1", "worker"],
  ["worker-2", "worker"],
  ["signer", "signer"],
] as const;

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const dbName = `warden_load_${randomBytes(4).toString("hex")}`;
  const dbUrl = `${SERVER}/${dbName}`;
  const prefix = `warden_load:${randomBytes(4).toString("hex")}:`;
  await ensureDatabase(dbUrl);
  const tg = await startTelegramEmulator({
    // Telegram's own limits, so the bot's replies are paced as they would be for real.
    rateLimit: { globalPerSecond: 30, perChatPerSecond: 1 },
  });
  const secrets = testEnvForBench();
  const ports = await Promise.all(PROCESSES.map(() => freePort()));
  const procs: Array<{ name: string; p: Spawned }> = [];
  const errors: string[] = [];
  const latencies = new Latencies();
  const rss: Record<string, number> = {};
  let sampler: NodeJS.Timeout | undefined;
  try {
    // Migrations first, once, as warden-migrate does before the roles start.
    const migrate = spawnProcess(
      "node",
      ["--import", "tsx", "src/cli.ts", "db", "migrate"],
      baseEnv({ ...secrets, NODE_ENV: "test", DATABASE_URL: dbUrl, REDIS_URL }),
    );
    const migrated = await migrate.exited;
    if (migrated.code !== 0) throw new Error(`migrate failed:\n${migrate.output()}`);

    PROCESSES.forEach(([name, role], i) => {
      const env = baseEnv({
        ...secrets,
        // Only the signer holds the exchange-key ring, as in production.
        MASTER_KEYS: role === "signer" ? secrets.MASTER_KEYS : undefined,
        NODE_ENV: "test",
        PORT: String(ports[i]),
        PUBLIC_URL: `http://127.0.0.1:${ports[0]}`,
        DATABASE_URL: dbUrl,
        REDIS_URL,
        REDIS_PREFIX: prefix,
        TELEGRAM_BOT_TOKEN: tg.token,
        TELEGRAM_API_ROOT: tg.apiRoot,
        BCRYPT_COST: String(opts.bcryptCost ?? 12),
        HIBP_FAIL_MODE: "open",
        HIBP_API_URL: "http://127.0.0.1:9",
        // "… role started" at info tells that a role is up.
        LOG_LEVEL: "info",
        SANDBOX: "off",
      });
      procs.push({
        name,
        p: spawnProcess("node", ["--import", "tsx", "src/main.ts", "--roles", role], env),
      });
    });
    await createApiUsers(dbUrl, opts.httpClients, secrets.PASSWORD_PEPPER!, opts.bcryptCost ?? 12);
    await Promise.all([0, 1].map((i) => waitForHttp(`http://127.0.0.1:${ports[i]}/readyz`, 200)));
    await Promise.all(procs.map(({ p }) => p.waitForOutput(/started/, 90_000)));
    sampler = setInterval(() => {
      for (const { name, p } of procs) {
        const mb = rssOf(p.child.pid);
        if (mb !== undefined) rss[name] = Math.max(rss[name] ?? 0, mb);
      }
    }, 250);

    const deadline = Date.now() + (opts.deadlineMs ?? 15 * 60_000);
    const acks = { opens: [] as Ack[], closes: [] as Ack[] };
    const started = performance.now();
    const tgUsers = runTelegramUsers(tg, opts, deadline, latencies, acks, errors);
    const apiBases = [0, 1].map((i) => `http://127.0.0.1:${ports[i]}`);
    const script: ApiClientScript = { rounds: opts.httpRounds ?? 3 };
    const clients = Array.from({ length: opts.httpClients }, (_, i) =>
      createApiClient(
        apiBases[i % 2]!,
        apiBases[0]!,
        `load${i}@example.com`,
        API_PASSWORD,
        script,
        latencies,
        acks,
        errors,
      ),
    );
    await Promise.all([tgUsers, ...clients.map((c) => c.run(deadline))]);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    sampler = undefined;

    const consistency = await checkConsistency(dbUrl, acks);
    for (const { name, p } of procs) {
      if (p.child.exitCode !== null) errors.push(`${name} exited with ${p.child.exitCode}`);
    }
    return {
      seconds,
      actions: latencies.total(),
      latencies: latencies.summary(),
      errors,
      rssMB: rss,
      consistency,
      telegram429: tg.tooManyRequestsSent,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    for (const { p } of procs) p.kill("SIGTERM");
    await Promise.all(
      procs.map(({ p }) =>
        Promise.race([p.exited, new Promise((r) => setTimeout(r, 15_000))]).then(() =>
          p.kill("SIGKILL"),
        ),
      ),
    );
    await tg.close();
    await dropBenchDatabase(SERVER, dbName);
    await cleanRedisPrefix(REDIS_URL, prefix);
    log("");
  }
}

function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

const API_PASSWORD = "load harness password, long enough";

/** Accounts with a password for the HTTP clients, written as registration writes them. */
async function createApiUsers(dbUrl: string, n: number, pepper: string, cost: number) {
  if (n === 0) return;
  const hash = await bcrypt.hash(prehashPassword(Buffer.from(pepper, "utf8"), API_PASSWORD), cost);
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    await c.query(
      `insert into users (email, password_hash, email_confirmed_at)
       select 'load' || g || '@example.com', $1, now() from generate_series(0, $2::int - 1) g`,
      [hash, n],
    );
  } finally {
    await c.end();
  }
}

/** Coins the paper venue quotes, each with a size that is a multiple of its lot step. */
const ORDERS: Array<[coin: string, size: string]> = [
  ["BTC", "0.01"],
  ["ETH", "0.1"],
  ["SOL", "1"],
  ["DOGE", "100"],
  ["XRP", "100"],
  ["BNB", "0.1"],
];

/** Each Telegram user's journey; users run `concurrency` at a time. */
async function runTelegramUsers(
  tg: TelegramEmulator,
  opts: LoadOptions,
  deadline: number,
  lat: Latencies,
  acks: { opens: Ack[]; closes: Ack[] },
  errors: string[],
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= opts.telegramUsers || Date.now() > deadline) return;
      const user = tg.user({ id: 70_000_000 + i, first_name: `Load${i}` });
      const who = `tg:${user.id}`;
      /** Sends a command and waits for the bot's answer that matches. */
      const ask = async (
        command: string,
        label: string,
        match: (m: HistoryEntry) => boolean,
      ): Promise<HistoryEntry> => {
        const t0 = performance.now();
        user.sendText(command);
        const m = await user.waitForBotMessage(match, 120_000);
        lat.add(label, performance.now() - t0);
        return m;
      };
      const press = async (
        m: HistoryEntry,
        button: RegExp,
        label: string,
        match: (m: HistoryEntry) => boolean,
      ) => {
        const data = buttonData(m, button);
        if (!data) throw new Error(`${label}: no button ${button} in "${m.text}"`);
        const t0 = performance.now();
        user.pressButton(m.message_id, data);
        const reply = await user.waitForBotMessage(match, 120_000);
        lat.add(label, performance.now() - t0);
        return reply;
      };
      const text = (m: HistoryEntry) => m.text ?? m.caption ?? "";
      try {
        await ask("/start", "/start", () => true);
        const venues = await ask("/connect", "/connect", (m) => buttonData(m, /paper/i) !== null);
        await press(venues, /paper/i, "connect paper", (m) => /paper/i.test(text(m)));
        await ask("/positions", "/positions", () => true);
        const [coin, size] = ORDERS[i % ORDERS.length]!;
        let opened = await ask(`/open ${coin} long ${size}`, "/open", (m) =>
          /#\d+|confirm/i.test(text(m)),
        );
        if (!/#\d+/.test(text(opened)) || buttonData(opened, /confirm/i)) {
          opened = await press(opened, /confirm/i, "/open", (m) => /#\d+/.test(text(m)));
        }
        const tradeId = /#(\d+)/.exec(text(opened))?.[1];
        if (!tradeId || !/open/i.test(text(opened))) {
          throw new Error(`/open was not acknowledged: "${text(opened)}"`);
        }
        acks.opens.push({ tradeId, user: who });
        await ask("/positions", "/positions", () => true);
        const confirm = await ask(
          `/close ${tradeId}`,
          "/close",
          (m) => buttonData(m, /yes|close|confirm/i) !== null,
        );
        const closed = await press(confirm, /yes|close|confirm/i, "/close", (m) =>
          /closed/i.test(text(m)),
        );
        if (!text(closed).includes(`#${tradeId}`)) {
          throw new Error(`/close was not acknowledged: "${text(closed)}"`);
        }
        acks.closes.push({ tradeId, user: who });
        await ask("/2fa", "/2fa", (m) => m.photo !== undefined || /code/i.test(text(m)));
      } catch (err) {
        const last = user
          .history()
          .filter((m) => m.from === "bot")
          .at(-1);
        errors.push(
          `${who}: ${(err as Error).message.split("\n")[0]} (last bot message: "${(last?.text ?? last?.caption ?? "").slice(0, 120)}")`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 200 }, worker));
}

function buttonData(m: HistoryEntry, re: RegExp): string | null {
  for (const row of m.reply_markup?.inline_keyboard ?? []) {
    for (const b of row) if (re.test(b.text) && b.callback_data) return b.callback_data;
  }
  return null;
}

/** One audit row and one venue order per acknowledged action; nothing left half-done. */
export async function checkConsistency(
  dbUrl: string,
  acks: { opens: Ack[]; closes: Ack[] },
): Promise<ConsistencyReport> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  const problems: string[] = [];
  try {
    const audit = await c.query<{ action: string; trade_id: string; n: number }>(
      `select action, trade_id::text, count(*)::int as n from trade_audit_log
        where outcome = 'ok' and trade_id is not null group by 1, 2`,
    );
    const count = new Map(audit.rows.map((r) => [`${r.action}:${r.trade_id}`, r.n]));
    // The paper venue keeps no order ids: its book is checked against the trades below instead.
    const orders = await c.query<{ id: string; venue: string; venue_order_id: string | null }>(
      "select id::text, venue, venue_order_id from trades",
    );
    const tradeOf = new Map(orders.rows.map((r) => [r.id, r]));
    const orderIds = new Map<string, number>();
    for (const r of orders.rows) {
      if (r.venue_order_id)
        orderIds.set(r.venue_order_id, (orderIds.get(r.venue_order_id) ?? 0) + 1);
    }
    for (const a of acks.opens) {
      const n = count.get(`open:${a.tradeId}`) ?? 0;
      if (n !== 1) problems.push(`open #${a.tradeId} (${a.user}) has ${n} audit rows`);
      const trade = tradeOf.get(a.tradeId);
      if (!trade) problems.push(`open #${a.tradeId} (${a.user}) has no venue order`);
      else if (trade.venue !== "paper" && !trade.venue_order_id) {
        problems.push(`open #${a.tradeId} (${a.user}) has no venue order`);
      } else if (trade.venue_order_id && (orderIds.get(trade.venue_order_id) ?? 0) !== 1) {
        problems.push(
          `venue order ${trade.venue_order_id} backs ${orderIds.get(trade.venue_order_id)} trades`,
        );
      }
    }
    for (const a of acks.closes) {
      const n = count.get(`close:${a.tradeId}`) ?? 0;
      if (n !== 1) problems.push(`close #${a.tradeId} (${a.user}) has ${n} audit rows`);
    }
    const duplicateOpens = audit.rows.filter((r) => r.action === "open" && r.n > 1);
    for (const d of duplicateOpens) problems.push(`trade #${d.trade_id} opened ${d.n} times`);
    // The paper venue's book against Warden's: no position without its open trade.
    const orphans = await c.query(
      `select p.account, p.symbol from paper_positions p
        where not exists (
          select 1 from trades t join exchange_credentials k on k.id = t.credential_id
           where t.status = 'open' and k.wallet_address = p.account)`,
    );
    for (const o of orphans.rows)
      problems.push(`paper position ${o.account} ${o.symbol} has no open trade`);
    const pending = await c.query(
      "select count(*)::int as n from trade_requests where trade_id is null and result is null",
    );
    if (pending.rows[0].n > 0) problems.push(`${pending.rows[0].n} idempotency keys left pending`);
  } finally {
    await c.end();
  }
  return { acknowledgedOpens: acks.opens.length, acknowledgedCloses: acks.closes.length, problems };
}
