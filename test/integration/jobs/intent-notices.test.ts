// The trade notice of an intent sent through a separate signer (issue 19), as the user receives
// it (a `notice` job on the alerts queue, which the worker sends to their Telegram chat): one per
// intent, whether two callers (two api processes, or a retry) wait on the same Idempotency-Key,
// and whether the caller told "still working" is still there when the signer finishes or not.
// The callers are the api and bot roles' own trading (createCallerTrading, remote mode); the
// signer is the real processor on the paper venue.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createCockpit } from "../../../src/cockpit";
import { TradingError, TradingPendingError } from "../../../src/domain/trading/types";
import { generateFernetKey, parseMasterKeys } from "../../../src/domain/vault";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createTradingStore, tradeAuditWriter } from "../../../src/infra/trading-store";
import type { SignerExecutor } from "../../../src/jobs/processors/signer-intents";
import { QUEUE_DEFINITIONS, type WorkerPool } from "../../../src/jobs/registry";
import { type CallerTrading, createCallerTrading } from "../../../src/wiring/caller-trading";
import { createTestDatabase, createTestRedis, type TestDatabase } from "../../support/context";
import { startTestSigner } from "../../support/signer-fixtures";
import { paperTrading, paperVenuesOf, seedPaperUsers } from "../../support/trading-fixtures";

const redis = createTestRedis();
const bullPrefix = `${redis.prefix}bull`;
const keyRing = parseMasterKeys(`1:${generateFernetKey()}`);
const pepper = randomBytes(32);
let db: TestDatabase;
let orm: MikroORM;
let intents: Queue;
let alerts: Queue;
let appRedis: Redis;
const pools: WorkerPool[] = [];
const callers: CallerTrading[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url, poolMax: 8 });
  const connection = { url: redis.url };
  intents = new Queue(QUEUE_DEFINITIONS.signerIntents.name, {
    connection,
    prefix: bullPrefix,
    defaultJobOptions: QUEUE_DEFINITIONS.signerIntents.defaultJobOptions,
  });
  alerts = new Queue(QUEUE_DEFINITIONS.alerts.name, { connection, prefix: bullPrefix });
  appRedis = new Redis(redis.url, { keyPrefix: redis.prefix });
});

afterEach(async () => {
  await Promise.all(callers.splice(0).map((c) => c.close()));
  await Promise.all(pools.splice(0).map((p) => p.close(2_000)));
});

afterAll(async () => {
  appRedis?.disconnect();
  await alerts?.close();
  await intents?.close();
  await orm?.close();
  await db?.drop();
  await redis.cleanup();
});

let nextTelegramId = 9_760_000;

/** A user with a Telegram chat and one paper key. */
async function trader(): Promise<{ userId: string; chatId: number; key: string }> {
  const chatId = nextTelegramId++;
  const [userId] = await seedPaperUsers(orm, 1, chatId);
  const [row] = await sqlOf(orm)(
    "select id::text as id from exchange_credentials where user_id = ? order by id desc limit 1",
    [userId],
  );
  return { userId: userId!, chatId, key: row!.id as string };
}

/** One api (or bot) process's trading through the signer: its own queue events and cockpit. */
function caller(deadlineMs: number, queue: Queue = intents): CallerTrading {
  const store = createTradingStore(orm, tradeAuditWriter(pepper));
  const cockpit = createCockpit({
    orm,
    keyRing,
    venues: paperVenuesOf(orm),
    tradingStore: store,
    alertsQueue: alerts,
  });
  const c = createCallerTrading("remote", {
    cockpit,
    trade: { trading: paperTrading(orm, keyRing, pepper), store },
    orm,
    queue,
    eventsConnection: () => ({ url: redis.url, maxRetriesPerRequest: null }),
    bullPrefix,
    redis: appRedis,
    deadlineMs,
  });
  callers.push(c);
  return c;
}

function signer(wrap?: (execute: SignerExecutor) => SignerExecutor): WorkerPool {
  const pool = startTestSigner({
    orm,
    redisUrl: redis.url,
    bullPrefix,
    keyRing,
    pepper,
    appPrefix: redis.prefix,
    wrap,
  });
  pools.push(pool);
  return pool;
}

/** The notices queued for the user's chat, as the worker would send them. */
async function noticesTo(chatId: number): Promise<string[]> {
  const jobs = await alerts.getJobs(["waiting", "active", "completed", "delayed", "failed"]);
  return jobs
    .filter((j) => j?.name === "notice" && j.data.chatId === chatId)
    .map((j) => j.data.text as string);
}

const as = (userId: string) => ({ userId, source: "api" as const, ip: null });
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Long enough for both callers' jobs to be queued (and joined) before a signer starts. */
const bothWaiting = () => pause(500);

describe("trade notices of intents through a separate signer", () => {
  it("when two callers wait on the same Idempotency-Key for an open and for a modify and both hear the outcome on time, then the user gets one entry notice and one SL/TP notice", async () => {
    const t = await trader();
    const [a, b] = [caller(20_000), caller(20_000)];
    const order = {
      symbol: "BTC",
      side: "long" as const,
      size: { kind: "base" as const, value: 0.01 },
      credentialId: t.key,
    };
    const opens = [
      a.placeOrder!(as(t.userId), order, "api:two-callers-open"),
      b.placeOrder!(as(t.userId), order, "api:two-callers-open"),
    ];
    await bothWaiting();
    signer();
    const [fromA, fromB] = await Promise.all(opens);
    expect(fromB!.id).toBe(fromA!.id);
    await expect.poll(() => noticesTo(t.chatId)).toHaveLength(1);
    expect((await noticesTo(t.chatId))[0]).toContain(`Opened: #${fromA!.id} BTC-PERP long 0.01`);

    const change = { stopLoss: 40_000 };
    const key = { idempotencyKey: "api:two-callers-modify" };
    const [ma, mb] = await Promise.all([
      a.trading.modifyTrade(as(t.userId), fromA!.id, change, key),
      b.trading.modifyTrade(as(t.userId), fromA!.id, change, key),
    ]);
    expect(ma.stopLoss).toBe(40_000);
    expect(mb).toEqual(ma);
    await expect.poll(() => noticesTo(t.chatId)).toHaveLength(2);
    await pause(1_000);
    const all = await noticesTo(t.chatId);
    expect(all).toHaveLength(2);
    expect(all.filter((n) => n.startsWith("SL/TP moved:"))).toHaveLength(1);
  });

  it("when the caller told 'still working' is gone (its wait closed) before the signer finishes, then the signer sends the promised notice, exactly once", async () => {
    const t = await trader();
    const a = caller(300);
    const order = {
      symbol: "ETH",
      side: "short" as const,
      size: { kind: "base" as const, value: 0.1 },
      credentialId: t.key,
    };
    const pending = await a.placeOrder!(as(t.userId), order, "api:caller-gone").then(
      () => null,
      (e: unknown) => e,
    );
    expect(pending).toBeInstanceOf(TradingPendingError);
    expect((pending as Error).message).toContain("Still working on it");
    // The caller process dies: nothing of it watches the intent any more.
    await a.close();
    callers.splice(callers.indexOf(a), 1);
    expect(await noticesTo(t.chatId)).toEqual([]);

    signer();
    await expect.poll(() => noticesTo(t.chatId), { timeout: 15_000 }).toHaveLength(1);
    const [notice] = await noticesTo(t.chatId);
    expect(notice).toMatch(/^Opened: #\d+ ETH-PERP short 0\.1 at /);
    await pause(1_500);
    expect(await noticesTo(t.chatId)).toHaveLength(1);
  });

  it("when the caller told 'still working' still watches as the signer finishes, and a retry of the same key then hears the result on time, then the user still gets one notice", async () => {
    const t = await trader();
    const a = caller(300);
    const order = {
      symbol: "SOL",
      side: "long" as const,
      size: { kind: "base" as const, value: 1 },
      credentialId: t.key,
    };
    const pending = await a.placeOrder!(as(t.userId), order, "api:both-watch").then(
      () => null,
      (e: unknown) => e,
    );
    expect(pending).toBeInstanceOf(TradingPendingError);
    signer();
    const retry = await caller(20_000).placeOrder!(as(t.userId), order, "api:both-watch");
    expect(retry.symbol).toContain("SOL");
    await expect.poll(() => noticesTo(t.chatId), { timeout: 15_000 }).toHaveLength(1);
    await pause(1_500);
    const all = await noticesTo(t.chatId);
    expect(all).toHaveLength(1);
    expect(all[0]).toContain(`#${retry.id} SOL-PERP long 1`);
  });

  it("when the caller told 'still working' is gone and every attempt of the intent fails, then the signer's last attempt sends one notice that it was not done", async () => {
    const t = await trader();
    // The production queue retries for minutes; two quick attempts here, the same rule.
    const quick = new Queue(QUEUE_DEFINITIONS.signerIntents.name, {
      connection: { url: redis.url },
      prefix: bullPrefix,
      defaultJobOptions: { attempts: 2, backoff: { type: "fixed", delay: 200 } },
    });
    try {
      const a = caller(300, quick);
      const order = {
        symbol: "DOGE",
        side: "long" as const,
        size: { kind: "base" as const, value: 100 },
        credentialId: t.key,
      };
      const pending = await a.placeOrder!(as(t.userId), order, "api:every-attempt-fails").then(
        () => null,
        (e: unknown) => e,
      );
      expect(pending).toBeInstanceOf(TradingPendingError);
      await a.close();
      callers.splice(callers.indexOf(a), 1);

      let attempts = 0;
      signer(() => async () => {
        attempts++;
        throw new Error("database went away");
      });
      await expect.poll(() => noticesTo(t.chatId), { timeout: 15_000 }).toHaveLength(1);
      expect(attempts).toBe(2);
      const [notice] = await noticesTo(t.chatId);
      expect(notice).toBe(
        "❌ Your open was not done: The order service could not complete this request, and nothing more will happen with it: check your positions before trying again.",
      );
      await pause(1_000);
      expect(await noticesTo(t.chatId)).toHaveLength(1);
    } finally {
      await quick.close();
    }
  });

  it("when the venue does not say whether a promised open executed, then the notice says it is not confirmed and to check the positions, never that it was not done", async () => {
    const t = await trader();
    const a = caller(300);
    const order = {
      symbol: "XRP",
      side: "long" as const,
      size: { kind: "base" as const, value: 10 },
      credentialId: t.key,
    };
    const pending = await a.placeOrder!(as(t.userId), order, "api:outcome-unknown").then(
      () => null,
      (e: unknown) => e,
    );
    expect(pending).toBeInstanceOf(TradingPendingError);
    await a.close();
    callers.splice(callers.indexOf(a), 1);

    // As the open use case words it when the venue's answer is lost.
    const lost =
      "Paper did not answer. Warden cannot tell yet whether the order was placed: check your positions before trying again; this request stays on hold so that it cannot open twice.";
    signer(() => async () => {
      throw new TradingError("outcome_unknown", lost);
    });
    await expect.poll(() => noticesTo(t.chatId), { timeout: 15_000 }).toHaveLength(1);
    expect((await noticesTo(t.chatId))[0]).toBe(`⚠️ Your open is not confirmed yet: ${lost}`);
  });
});
