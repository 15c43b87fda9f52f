// The anomaly scan and the alert fan-out.
// 1. Scan time of one 5-minute window — 50,000 active users, 100,000 trade actions — over a
//    history of 1 million and then 10 million activity rows (target < 2 s on both, and the
//    second not materially slower: the scan's queries are index probes keyed by the window).
// 2. Rounds of 600 alerts for distinct users delivered through the Telegram emulator, which
//    answers 429 with retry_after beyond 30 messages/s overall or 1/s per chat: the rate against
//    the configured limit, and every 429.
// 3. What the activity feed costs each trade action (audited open/close loops with and without,
//    alternating rounds).
//
// Synthetic history is generated in SQL (INSERT … SELECT generate_series) straight into
// trade_activity, the feed the scan reads (one row per audit entry in production), and the two
// per-account tables the writer keeps are filled from it; foreign key triggers are off for the
// load (session_replication_role = replica), and the window's settled facts (previous sighting
// of the IP, first open of the coin) are set by one UPDATE instead of row by row. The audit log
// itself is not filled: the scan never reads it. The 10-million history adds 9 million older
// rows with negative ids under the same window, so both runs scan the very same window.
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import { DEFAULT_THRESHOLDS, runAnomalyScan } from "../src/domain/anomaly";
import { createTrading } from "../src/domain/trading/trading";
import { generateFernetKey, parseMasterKeys } from "../src/domain/vault";
import { createPaperVenue } from "../src/domain/venues/paper";
import type { Venue, VenueId } from "../src/domain/venues/types";
import { createAlertDedup, createAlertStore } from "../src/infra/alerts-store";
import { createAnomalyScanStore, withActivityFeed } from "../src/infra/anomaly-store";
import { createCredentialsRepo } from "../src/infra/credentials-repo";
import { createOrm, ensureDatabase, migrate, sqlOf } from "../src/infra/database";
import { createLogger } from "../src/infra/logger";
import { createPauseStore } from "../src/infra/pause-store";
import { createRedisFactory } from "../src/infra/redis";
import { createScrubber } from "../src/infra/scrub";
import { createTelegramSender } from "../src/infra/telegram";
import { GLOBAL_SENDS_PER_SECOND } from "../src/infra/telegram-limits";
import { createTradingStore, tradeAuditWriter } from "../src/infra/trading-store";
import { createPaperStore } from "../src/infra/venues/paper-store";
import { createWebSocketPublisher } from "../src/infra/ws-hub";
import { alertsTelegramSender, createAlertsProcessor } from "../src/jobs/processors/alerts";
import { QUEUE_DEFINITIONS, startWorkers } from "../src/jobs/registry";
import { baseEnv, spawnProcess } from "../test/support/process";
import { seedPaperUsers } from "../test/support/trading-fixtures";
import { alternate, type Figure, figure, MIN_ROUNDS, printFigure, repeat, stats } from "./rounds";
import { dropBenchDatabase } from "./support";

const SERVER = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const USERS = 50_000;
const WINDOW_ACTIONS = 100_000;
const HISTORY_SMALL = Number(process.env.BENCH_ANOMALY_HISTORY_SMALL ?? 1_000_000);
const HISTORY_LARGE = Number(process.env.BENCH_ANOMALY_HISTORY_LARGE ?? 10_000_000);
const ALERTS = Number(process.env.BENCH_ANOMALY_ALERTS ?? 600);
const ROUNDS = Math.max(MIN_ROUNDS, Number(process.env.BENCH_ROUNDS ?? MIN_ROUNDS));
const RUNS = 5;
const WRITE_SECONDS = Number(process.env.BENCH_ANOMALY_WRITE_SECONDS ?? 8);

const COINS = `array['BTC','ETH','SOL','BNB','XRP','DOGE','ADA','AVAX','LINK','DOT','LTC','TRX','ATOM','NEAR','APT','ARB','OP','SUI','TON','PEPE']`;
/** Each user's usual IP, from its index 0…49,999. */
const homeIp = (idx: string) =>
  `('10.' || ((${idx}) / 65536) || '.' || (((${idx}) / 256) % 256) || '.' || ((${idx}) % 256))::inet`;

async function generateHistory(
  client: pg.Client,
  firstUser: number,
  rows: number,
  idFrom: number | null,
  windowStartMs: number,
): Promise<void> {
  // 60 days before the window; mostly the user's home IP, sometimes one of 4 others; the first
  // 20 rows of each user are opens of the 20 coins (so a coin new to a user stays rare).
  await client.query("set session_replication_role = replica");
  await client.query(
    `insert into trade_activity (${idFrom === null ? "" : "id, "}xid, user_id, occurred_at, action, outcome, source, ip, symbol, coin, trade_id)
     ${idFrom === null ? "" : "overriding system value"}
     select ${idFrom === null ? "" : `${idFrom} + g, `}'1'::xid8, $1::bigint + (g % ${USERS}),
       to_timestamp($2::double precision / 1000) - (60 * 86400 * random()) * interval '1 second',
       case when g <= 20 * ${USERS} then 'open' else (array['open','close','modify'])[1 + g % 3] end,
       'ok', (array['api','telegram'])[1 + g % 2],
       case when (g / ${USERS}) % 10 = 9 then ('172.16.' || (g % 4) || '.' || (g % ${USERS}) % 256)::inet
            else ${homeIp(`g % ${USERS}`)} end,
       (${COINS})[1 + (g / ${USERS}) % 20] || '/USDT:USDT', (${COINS})[1 + (g / ${USERS}) % 20], g
     from generate_series(1, $3::bigint) g`,
    [firstUser, windowStartMs, rows],
  );
  // The per-account tables the writer keeps: each IP's last sighting, each coin's first open.
  const range = idFrom === null ? "id > 0" : `id between ${idFrom + 1} and ${idFrom + rows}`;
  await client.query(
    `insert into activity_ip_sightings (user_id, ip, last_seen)
     select user_id, ip, max(occurred_at) from trade_activity where ${range} and ip is not null group by 1, 2
     on conflict (user_id, ip) do update
       set last_seen = greatest(activity_ip_sightings.last_seen, excluded.last_seen)`,
  );
  await client.query(
    `insert into activity_coins (user_id, coin, first_at)
     select user_id, coin, min(occurred_at) from trade_activity where ${range} and action = 'open' group by 1, 2
     on conflict (user_id, coin) do update
       set first_at = least(activity_coins.first_at, excluded.first_at)`,
  );
  await client.query("set session_replication_role = origin");
}

async function generateWindow(
  client: pg.Client,
  firstUser: number,
  windowStartMs: number,
  watermarkId: string,
): Promise<void> {
  // Two actions per user inside the 5 minutes; 1% from a new IP, 1% in a new coin, and 200
  // users firing 12 opens each (so every rule has something to find).
  await client.query("set session_replication_role = replica");
  await client.query(
    `insert into trade_activity (user_id, occurred_at, action, outcome, source, ip, symbol, coin, trade_id)
     select $1::bigint + (g % ${USERS}),
       to_timestamp($2::double precision / 1000) + (300 * random()) * interval '1 second',
       (array['open','close'])[1 + (g / ${USERS}) % 2], 'ok', 'api',
       case when g % 100 = 7 then ('192.0.2.' || g % 250)::inet else ${homeIp(`g % ${USERS}`)} end,
       case when g % 100 = 9 then 'NEWCOIN/USDT:USDT' else (${COINS})[1 + g % 20] || '/USDT:USDT' end,
       case when g % 100 = 9 then 'NEWCOIN' else (${COINS})[1 + g % 20] end, null::bigint
     from generate_series(1, ${WINDOW_ACTIONS - 200 * 12}) g
     union all
     select $1::bigint + u * 97, to_timestamp($2::double precision / 1000) + (i * 10) * interval '1 second',
       'open', 'ok', 'api', ${homeIp("u * 97")}, 'BTC/USDT:USDT', 'BTC', null::bigint
     from generate_series(1, 200) u, generate_series(1, 12) i`,
    [firstUser, windowStartMs],
  );
  // The facts the writer settles for each action (here from the history before the window).
  await client.query(
    `update trade_activity a set
       ip_last_seen = (select s.last_seen from activity_ip_sightings s
                       where s.user_id = a.user_id and s.ip = a.ip),
       coin_new = a.action = 'open' and not exists (select 1 from activity_coins c
                       where c.user_id = a.user_id and c.coin = a.coin)
     where a.id > $1::bigint`,
    [watermarkId],
  );
  await client.query("set session_replication_role = origin");
}

async function timeScans(
  orm: Awaited<ReturnType<typeof createOrm>>,
  client: pg.Client,
  watermarkId: string,
  nowMs: number,
) {
  const seconds: number[] = [];
  let report: Awaited<ReturnType<typeof runAnomalyScan>> | undefined;
  for (let run = 0; run < RUNS; run++) {
    await client.query("delete from anomalies");
    await client.query(
      `insert into app_state (key, value) values ('anomaly_scan', $1::jsonb)
       on conflict (key) do update set value = excluded.value`,
      // History rows carry the oldest transaction id (1): the scan starts right after them.
      [JSON.stringify({ lastId: `1:${watermarkId}`, at: null })],
    );
    const t = performance.now();
    report = await runAnomalyScan({
      store: createAnomalyScanStore(orm),
      now: () => nowMs,
      thresholds: DEFAULT_THRESHOLDS,
      alerting: new Set(["rapid_fire", "new_ip"]),
      dispatch: async () => {},
    });
    seconds.push((performance.now() - t) / 1000);
  }
  const counts = (
    await client.query("select rule, count(*)::int as n from anomalies group by 1 order by 1")
  ).rows.map((r) => `${r.rule} ${r.n}`);
  return { best: Math.min(...seconds), seconds, scanned: report?.scanned ?? 0, counts };
}

async function benchScan(): Promise<Figure[]> {
  const name = `warden_bench_${randomBytes(4).toString("hex")}`;
  const url = `${SERVER}/${name}`;
  await ensureDatabase(url);
  const orm = await createOrm({ url, poolMax: 4 });
  const client = new pg.Client({ connectionString: url });
  try {
    await migrate(orm, url);
    await client.connect();
    const first = Number(
      (
        await client.query(
          `insert into users (telegram_user_id) select 20000000 + g from generate_series(1, ${USERS}) g
           returning id`,
        )
      ).rows[0].id,
    );
    const windowStart = Date.parse("2026-12-01T12:00:00.000Z");

    let t = performance.now();
    await generateHistory(client, first, HISTORY_SMALL, null, windowStart);
    const watermark = String(
      (await client.query("select max(id)::text as id from trade_activity")).rows[0].id,
    );
    await generateWindow(client, first, windowStart, watermark);
    await client.query("vacuum analyze trade_activity");
    const genSmall = (performance.now() - t) / 1000;
    const small = await timeScans(orm, client, watermark, windowStart + 5 * 60_000);

    t = performance.now();
    await generateHistory(
      client,
      first,
      HISTORY_LARGE - HISTORY_SMALL,
      -HISTORY_LARGE,
      windowStart,
    );
    await client.query("vacuum analyze trade_activity");
    const genLarge = (performance.now() - t) / 1000;
    const total = (await client.query("select count(*)::int as n from trade_activity")).rows[0]
      .n as number;
    const large = await timeScans(orm, client, watermark, windowStart + 5 * 60_000);

    const fmt = (s: number[]) => s.map((x) => x.toFixed(2)).join(", ");
    console.log(
      [
        "",
        `Anomaly scan: one 5-minute window, ${USERS.toLocaleString("en")} active users, ${small.scanned.toLocaleString("en")} trade actions`,
        `history ${HISTORY_SMALL.toLocaleString("en")} rows (generated in ${genSmall.toFixed(0)} s): best ${small.best.toFixed(2)} s of ${RUNS} (${fmt(small.seconds)} s); findings ${small.counts.join(", ")}`,
        `history ${(total - WINDOW_ACTIONS).toLocaleString("en")} rows (generated in ${genLarge.toFixed(0)} s): best ${large.best.toFixed(2)} s of ${RUNS} (${fmt(large.seconds)} s); findings ${large.counts.join(", ")}`,
        `10M / 1M history: ${(large.best / small.best).toFixed(2)}× (target: not materially slower; each < 2 s)`,
        "",
      ].join("\n"),
    );
    const figures = [
      figure({
        id: "anomaly.scan",
        what: `Anomaly scan of one 5-minute window (${small.scanned.toLocaleString("en")} actions) over ${(total - WINDOW_ACTIONS).toLocaleString("en")} history rows, ${RUNS} runs`,
        unit: "s",
        ours: stats(large.seconds),
        anchorLabel: `the same scan over ${HISTORY_SMALL.toLocaleString("en")} history rows`,
        anchor: stats(small.seconds),
        target: { op: "<=", value: 1.5, text: "not materially slower (≤ 1.5×)" },
      }),
    ];
    for (const f of figures) printFigure(f);
    return figures;
  } finally {
    await client.end().catch(() => {});
    await orm.close();
    await dropBenchDatabase(SERVER, name);
  }
}

async function benchFanOut(): Promise<Figure[]> {
  const name = `warden_bench_${randomBytes(4).toString("hex")}`;
  const url = `${SERVER}/${name}`;
  const prefix = `warden_bench:${randomBytes(4).toString("hex")}:`;
  await ensureDatabase(url);
  const orm = await createOrm({ url, poolMax: 10 });
  const tg = await startChildEmulator();
  const redis = createRedisFactory({ url: REDIS_URL, keyPrefix: prefix });
  const logger = createLogger({ level: "error", pretty: false, scrubber: createScrubber() });
  try {
    await migrate(orm, url);
    const sql = sqlOf(orm);
    /** ALERTS new findings, each for a distinct Telegram-only user (no email) who wrote once. */
    const seed = async (round: number) => {
      const rows = await sql(
        `insert into users (telegram_user_id) select ?::bigint + g from generate_series(1, ?::int) g
         returning id::text as id, telegram_user_id`,
        [30_000_000 + round * 1_000_000, ALERTS],
      );
      await tg.start(rows.map((r) => Number(r.telegram_user_id)));
      return (
        await sql(
          `insert into anomalies (user_id, rule, window_start, window_end, evidence, created_at, alert)
           select id, 'rapid_fire', now(), now(), '{"opens":11,"threshold":10,"windowMinutes":5}', now(), true
           from users where id = any(?::bigint[]) returning id::text as id`,
          // One array literal: the ORM's sql() would expand a JS array into a list of values.
          [`{${rows.map((r) => r.id as string).join(",")}}`],
        )
      ).map((r) => r.id as string);
    };

    const queue = new Queue("alerts", {
      connection: redis.create("producer", "bench-alerts"),
      prefix: redis.bullPrefix,
      defaultJobOptions: QUEUE_DEFINITIONS.alerts.defaultJobOptions,
    });
    const store = createAlertStore(sql, { adminTelegramIds: [] });
    const publish = createWebSocketPublisher(redis.create("client", "bench-ws"));
    const pool = startWorkers({
      connection: () => redis.create("worker", "bench-worker"),
      prefix: redis.bullPrefix,
      logger,
      processors: {
        alerts: createAlertsProcessor({
          scan: {
            store: createAnomalyScanStore(orm),
            now: Date.now,
            thresholds: DEFAULT_THRESHOLDS,
            alerting: new Set(["rapid_fire"]),
          },
          dispatch: {
            store,
            dedup: createAlertDedup(redis.create("client", "bench-dedup")),
            senders: {
              telegram: alertsTelegramSender(queue),
              // The users are Telegram-only: no mail is ever handed over.
              outbox: {
                send: async () => {
                  throw new Error("no email in this benchmark");
                },
              },
              websocket: async (u, e) => {
                await publish(Number(u), e);
              },
            },
            dedupWindowMs: 30 * 60_000,
            publicUrl: "https://warden.example",
            now: Date.now,
          },
          store,
          queue,
          telegram: createTelegramSender({
            token: tg.token,
            apiRoot: tg.apiRoot,
            redis: redis.create("client", "bench-telegram"),
          }),
          logger,
        }),
      },
    });
    const delivered = async () => (await tg.stats()).delivered;
    const slots = redis.create("client", "bench-slots");
    const round = async (r: number) => {
      const ids = await seed(r);
      const before = await delivered();
      const startedAt = Date.now();
      const t = performance.now();
      // The limiter's own log (slot times on Redis's clock) read while it is kept, to compare
      // when sends leave the limiter with when they reach the emulator.
      const taken = new Set<string>();
      const watch = setInterval(() => {
        void slots.zrange("telegram:sends", 0, -1).then((ms) => {
          for (const m of ms) taken.add(m);
        });
      }, 250);
      await queue.addBulk(
        ids.map((anomalyId) => ({
          name: "dispatch",
          data: { anomalyId },
          opts: { jobId: `dispatch-${anomalyId}` },
        })),
      );
      while ((await delivered()) - before < ALERTS) {
        const [row] = await sql(
          "select count(*)::int as failed from alert_deliveries where channel = 'telegram' and outcome = 'failed'",
        );
        if (Number(row?.failed) > 0) throw new Error(`${String(row?.failed)} alerts failed`);
        await new Promise((res) => setTimeout(res, 100));
      }
      const rate = ALERTS / ((performance.now() - t) / 1000);
      clearInterval(watch);
      const left = [...taken]
        .map((m) => Number(m.split(":")[0]))
        .filter((x) => x >= startedAt)
        .sort((a, b) => a - b);
      const arrived = (await tg.stats(true)).arrivals.slice(before);
      console.log(
        `  round ${r + 1}: ${rate.toFixed(1)} msgs/s; ${pacing(startedAt, left, arrived)}`,
      );
      return rate;
    };
    const rates = await repeat(ROUNDS, round);
    const { tooMany, chatsOver } = await tg.stats();
    const f = figure({
      id: "alerts.fanout",
      what: `Alert fan-out, ${ALERTS.toLocaleString("en")} alerts for distinct users per round through the Telegram emulator (429 beyond 30/s overall, 1/s per chat; in a process of its own): ${tooMany} answered 429, ${chatsOver} chats got two within a second`,
      unit: "msgs/s",
      ours: rates,
      anchorLabel: "the configured bot limit (GLOBAL_SENDS_PER_SECOND)",
      anchor: GLOBAL_SENDS_PER_SECOND,
      target: { op: ">=", value: 0.95, text: "≥ 95 % of the limit, no 429" },
    });
    console.log("");
    printFigure(f);
    await pool.close(5_000);
    await queue.obliterate({ force: true });
    await queue.close();
    if (tooMany > 0 || chatsOver > 0) {
      throw new Error("alert fan-out broke Telegram's limits (see the figure above)");
    }
    return [f];
  } finally {
    tg.close();
    const cleaner = new Redis(REDIS_URL);
    let cursor = "0";
    do {
      const [next, keys] = await cleaner.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await cleaner.unlink(...keys);
    } while (cursor !== "0");
    cleaner.disconnect();
    await redis.closeAll();
    await orm.close();
    await dropBenchDatabase(SERVER, name);
  }
}

/** The Telegram emulator in a child process (bench/telegram-child.ts), 429 beyond 30/s and 1/s a chat. */
async function startChildEmulator() {
  const child = spawnProcess(
    "node",
    ["--import", "tsx", "bench/telegram-child.ts"],
    baseEnv({ BENCH_TG_GLOBAL_PER_SECOND: "30", BENCH_TG_PER_CHAT_PER_SECOND: "1" }),
  );
  const info = JSON.parse(await child.waitForOutput(/^\{.*\}$/m)) as {
    apiRoot: string;
    token: string;
    statsUrl: string;
  };
  return {
    apiRoot: info.apiRoot,
    token: info.token,
    /** These users write /start to the bot. */
    start: async (ids: number[]) => {
      const res = await fetch(info.statsUrl, { method: "POST", body: JSON.stringify(ids) });
      if (!res.ok) throw new Error(`emulator child: ${res.status}`);
    },
    stats: async (withArrivals = false) =>
      (await (await fetch(`${info.statsUrl}${withArrivals ? "?arrivals" : ""}`)).json()) as {
        delivered: number;
        tooMany: number;
        chatsOver: number;
        arrivals: number[];
      },
    close: () => child.kill("SIGTERM"),
  };
}

/**
 * One round's pacing: when the first send left the limiter, the median gap between slots, the
 * most slots in any rolling second at the limiter and the most arrivals at the emulator, and
 * how much later than its slot the n-th send arrived (p50/p99/max, sends matched in order).
 */
function pacing(startedAt: number, left: number[], arrived: number[]): string {
  const maxInSecond = (xs: number[]) => {
    let most = 0;
    for (let i = 0, j = 0; i < xs.length; i++) {
      while ((xs[i] ?? 0) - (xs[j] ?? 0) >= 1000) j++;
      most = Math.max(most, i - j + 1);
    }
    return most;
  };
  const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  };
  const gaps = left.slice(1).map((x, i) => x - (left[i] ?? x));
  const late = arrived.slice(0, left.length).map((a, i) => a - (left[i] ?? a));
  const sentFor = ((left.at(-1) ?? 0) - (left[0] ?? 0)) / 1000;
  return [
    `${left.length} slots seen, first ${(left[0] ?? 0) - startedAt} ms after queueing`,
    `slots over ${sentFor.toFixed(1)} s = ${((left.length - 1) / sentFor).toFixed(1)}/s`,
    `gap p50 ${q(gaps, 0.5)} p90 ${q(gaps, 0.9)} max ${Math.max(...gaps)} ms`,
    `max/rolling s: limiter ${maxInSecond(left)}, emulator ${maxInSecond(arrived)}`,
    `arrival after slot p50 ${q(late, 0.5)} p99 ${q(late, 0.99)} max ${Math.max(...late)} ms`,
    `last arrival ${(arrived.at(-1) ?? 0) - startedAt} ms after queueing`,
  ].join("; ");
}

/**
 * What the feed costs the write path: audited open/close loops on the paper venue with 8
 * concurrent users, with and without the activity row (and its settled facts), same run.
 */
async function benchWriteCost(): Promise<Figure[]> {
  const name = `warden_bench_${randomBytes(4).toString("hex")}`;
  const url = `${SERVER}/${name}`;
  await ensureDatabase(url);
  const orm = await createOrm({ url, poolMax: 20 });
  try {
    await migrate(orm, url);
    const ring = parseMasterKeys(`1:${generateFernetKey()}`);
    const pepper = randomBytes(32);
    const users = await seedPaperUsers(orm, 8, 9_300_000);
    const creds = createCredentialsRepo(sqlOf(orm));
    const venues = {
      paper: createPaperVenue({ store: createPaperStore(sqlOf(orm)) }),
    } as unknown as Record<VenueId, Venue>;
    const audit = tradeAuditWriter(pepper);
    const run = async (feed: boolean, symbol: string) => {
      const trading = createTrading({
        store: createTradingStore(orm, feed ? withActivityFeed(audit, Date.now) : audit),
        pauses: createPauseStore(sqlOf(orm)),
        keyRing: ring,
        venues,
        credentials: (u) => creds.list(u),
      });
      const stop = Date.now() + WRITE_SECONDS * 1000;
      let actions = 0;
      await Promise.all(
        users.map(async (userId, i) => {
          const caller = { userId, source: "api" as const, ip: `198.51.100.${i + 1}` };
          while (Date.now() < stop) {
            const t = await trading.openTrade(caller, { symbol, side: "long", size: 0.01 });
            await trading.closeTrade(caller, t.id);
            actions += 2;
          }
        }),
      );
      return actions / WRITE_SECONDS;
    };
    const { ours, anchor } = await alternate(
      ROUNDS,
      () => run(true, "BTC"),
      () => run(false, "ETH"),
    );
    const f = figure({
      id: "anomaly.feed_cost",
      what: `Activity feed's cost on the write path: audited trade actions, 8 concurrent users, ${WRITE_SECONDS} s per round`,
      unit: "actions/s",
      ours,
      anchorLabel: "audit write alone (no activity row)",
      anchor,
    });
    console.log("");
    printFigure(f);
    return [f];
  } finally {
    await orm.close();
    await dropBenchDatabase(SERVER, name);
  }
}

// BENCH_ANOMALY_PARTS (e.g. "fanout"): only the parts named, comma-separated; all by default.
const PARTS = (process.env.BENCH_ANOMALY_PARTS ?? "scan,fanout,write").split(",");

export async function benchAnomaly(): Promise<Figure[]> {
  const parts: Array<[string, () => Promise<Figure[]>]> = [
    ["scan", benchScan],
    ["fanout", benchFanOut],
    ["write", benchWriteCost],
  ];
  const figures: Figure[] = [];
  for (const [name, run] of parts) if (PARTS.includes(name)) figures.push(...(await run()));
  return figures;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchAnomaly().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
