// Modify and close under an idempotency key (issue 19), on the real trading store and the paper
// venue: an attempt that claimed the key and died before recording holds it until its lease
// runs out; then a retry acts, and a close whose venue call had already gone through is
// recorded once, with one venue close. A refused change frees its key.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHANGE_LEASE_MS } from "../../../src/domain/trading/changes";
import { type ChangeRequest, createTrading } from "../../../src/domain/trading/trading";
import { generateFernetKey, parseMasterKeys } from "../../../src/domain/vault";
import { paperSymbol } from "../../../src/domain/venues/paper";
import type { Venue, VenueId } from "../../../src/domain/venues/types";
import { createCredentialsRepo } from "../../../src/infra/credentials-repo";
import { createOrm, preparedSqlOf, sqlOf } from "../../../src/infra/database";
import { createPauseStore } from "../../../src/infra/pause-store";
import { createTradingStore, tradeAuditWriter } from "../../../src/infra/trading-store";
import { createPaperStore } from "../../../src/infra/venues/paper-store";
import { createTestDatabase, type TestDatabase } from "../../support/context";
import { paperTrading, paperVenuesOf, seedPaperUsers } from "../../support/trading-fixtures";

let db: TestDatabase;
let orm: MikroORM;
const ring = parseMasterKeys(`1:${generateFernetKey()}`);
const pepper = randomBytes(32);
let nextTelegramId = 9_350_000;

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url, poolMax: 4 });
});
afterAll(async () => {
  await orm.close();
  await db.drop();
});

const sql = () => sqlOf(orm);
const as = (userId: string) => ({ userId, source: "api" as const, ip: null });
const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as { code?: string; message: string },
  );

async function trader() {
  const [userId] = (await seedPaperUsers(orm, 1, nextTelegramId++)) as [string];
  const [c] = await sql()("select wallet_address from exchange_credentials where user_id = ?", [
    userId,
  ]);
  return { userId, account: c!.wallet_address as string };
}

async function auditCount(tradeId: string, action: string): Promise<number> {
  const [r] = await sql()(
    "select count(*)::int as n from trade_audit_log where trade_id = ? and action = ? and outcome = 'ok'",
    [tradeId, action],
  );
  return r!.n as number;
}

/** An attempt that claimed `key` for `request` and died before recording anything. */
async function diedAfterClaim(userId: string, key: string, request: ChangeRequest) {
  const store = createTradingStore(orm, tradeAuditWriter(pepper));
  expect(await store.claimChange(userId, key, request, CHANGE_LEASE_MS)).toMatchObject({
    status: "new",
  });
}

const leaseRunsOut = (userId: string, key: string) =>
  sql()(
    "update trade_requests set claimed_until = now() - interval '1 second' where user_id = ? and idempotency_key = ?",
    [userId, key],
  );

describe("idempotent modify and close", () => {
  it("when a close's attempt died after the venue closed the position and before recording, then a retry waits for the lease, then records the close once with one venue close, and a repeat gets that close", async () => {
    const trading = paperTrading(orm, ring, pepper);
    const t = await trader();
    const trade = await trading.openTrade(as(t.userId), {
      symbol: "BTC",
      side: "long",
      size: 0.01,
    });
    const key = "sig:close-1";
    await diedAfterClaim(t.userId, key, { action: "close", tradeId: trade.id });
    // The dead attempt's venue call went through: the paper position is closed at the venue.
    const atVenue = await createPaperStore(sql()).closePosition(
      t.account,
      paperSymbol(trade.symbol),
      50_000,
      "manual",
    );
    expect(atVenue).not.toBeNull();

    const held = await failure(trading.closeTrade(as(t.userId), trade.id, { idempotencyKey: key }));
    expect(held?.code).toBe("in_progress");
    expect(await auditCount(trade.id, "close")).toBe(0);

    await leaseRunsOut(t.userId, key);
    const closed = await trading.closeTrade(as(t.userId), trade.id, { idempotencyKey: key });
    expect(closed.status).toBe("closed");
    expect(await auditCount(trade.id, "close")).toBe(1);
    const again = await trading.closeTrade(as(t.userId), trade.id, { idempotencyKey: key });
    expect(again).toEqual(closed);
    expect(await auditCount(trade.id, "close")).toBe(1);
    const [closes] = await sql()("select count(*)::int as n from paper_closes where account = ?", [
      t.account,
    ]);
    expect(closes!.n).toBe(1);
  });

  it("when a modify under a key is done and the trade is modified again, then a repeat of the first key gets the first result, not the trade as it is now, and writes nothing", async () => {
    const trading = paperTrading(orm, ring, pepper);
    const t = await trader();
    const trade = await trading.openTrade(as(t.userId), {
      symbol: "ETH",
      side: "short",
      size: 1,
    });
    const first = await trading.modifyTrade(
      as(t.userId),
      trade.id,
      { stopLoss: 9_000 },
      { idempotencyKey: "sig:mod-1" },
    );
    await trading.modifyTrade(
      as(t.userId),
      trade.id,
      { stopLoss: 9_500 },
      { idempotencyKey: "sig:mod-2" },
    );
    const repeat = await trading.modifyTrade(
      as(t.userId),
      trade.id,
      { stopLoss: 9_000 },
      { idempotencyKey: "sig:mod-1" },
    );
    expect(repeat).toEqual(first);
    expect(repeat.stopLoss).toBe(9_000);
    expect(await auditCount(trade.id, "modify")).toBe(2);
    // The same key for another change, or for an open, is refused.
    const other = await failure(
      trading.modifyTrade(
        as(t.userId),
        trade.id,
        { stopLoss: 8_000 },
        { idempotencyKey: "sig:mod-1" },
      ),
    );
    expect(other?.message).toBe("This idempotency key was already used for a different request.");
    const open = await failure(
      trading.openTrade(as(t.userId), {
        symbol: "SOL",
        side: "long",
        size: 1,
        idempotencyKey: "sig:mod-1",
      }),
    );
    expect(open?.message).toBe("This idempotency key was already used for a different request.");
    expect(await auditCount(trade.id, "modify")).toBe(2);
  });

  it("when a change under a key is refused before the venue (a size that does not shrink), then the key is freed and a corrected request may use it", async () => {
    const trading = paperTrading(orm, ring, pepper);
    const t = await trader();
    const trade = await trading.openTrade(as(t.userId), {
      symbol: "BTC",
      side: "long",
      size: 0.02,
    });
    const refused = await failure(
      trading.modifyTrade(as(t.userId), trade.id, { size: 0.05 }, { idempotencyKey: "sig:m" }),
    );
    expect(refused?.code).toBe("size_not_reduced");
    const [row] = await sql()(
      "select count(*)::int as n from trade_requests where user_id = ? and idempotency_key = 'sig:m'",
      [t.userId],
    );
    expect(row!.n).toBe(0);
    const shrunk = await trading.modifyTrade(
      as(t.userId),
      trade.id,
      { size: 0.01 },
      { idempotencyKey: "sig:m" },
    );
    expect(shrunk.size).toBe(0.01);
  });

  it("when a modify's venue call outlasts its claim's lease and the intent is redelivered meanwhile, then the lease is renewed: the redelivery is told in progress, the venue is called once, one audit row is written, and a later repeat gets that result", async () => {
    const leaseMs = 300;
    const paper = paperVenuesOf(orm).paper;
    let modifies = 0;
    // The fake venue: the paper venue whose modify answers after four leases.
    const slow = {
      ...paper,
      async modifyPosition(...args: Parameters<Venue["modifyPosition"]>) {
        modifies++;
        await new Promise((r) => setTimeout(r, leaseMs * 4));
        return paper.modifyPosition(...args);
      },
    } as Venue;
    const pool = preparedSqlOf(orm);
    const creds = createCredentialsRepo(pool);
    const trading = createTrading({
      store: createTradingStore(orm, tradeAuditWriter(pepper)),
      pauses: createPauseStore(pool),
      keyRing: ring,
      venues: { paper: slow } as unknown as Record<VenueId, Venue>,
      credentials: (u) => creds.list(u),
      changeLeaseMs: leaseMs,
    });
    const t = await trader();
    const trade = await trading.openTrade(as(t.userId), {
      symbol: "BTC",
      side: "long",
      size: 0.01,
    });
    const key = "sig:slow-modify";
    const first = trading.modifyTrade(
      as(t.userId),
      trade.id,
      { stopLoss: 40_000 },
      { idempotencyKey: key },
    );
    // The redelivery comes after two leases: without renewal it would retake the claim and act.
    await new Promise((r) => setTimeout(r, leaseMs * 2));
    const redelivered = await failure(
      trading.modifyTrade(as(t.userId), trade.id, { stopLoss: 40_000 }, { idempotencyKey: key }),
    );
    expect(redelivered?.code).toBe("in_progress");
    const done = await first;
    expect(done.stopLoss).toBe(40_000);
    expect(modifies).toBe(1);
    expect(await auditCount(trade.id, "modify")).toBe(1);
    const repeat = await trading.modifyTrade(
      as(t.userId),
      trade.id,
      { stopLoss: 40_000 },
      { idempotencyKey: key },
    );
    expect(repeat).toEqual(done);
    expect(modifies).toBe(1);
    expect(await auditCount(trade.id, "modify")).toBe(1);
  });

  it("when an attempt lost its claim (its lease ran out and another attempt retook the key), then its record writes nothing, and only the holder's change and audit row are kept", async () => {
    const trading = paperTrading(orm, ring, pepper);
    const store = createTradingStore(orm, tradeAuditWriter(pepper));
    const t = await trader();
    const trade = await trading.openTrade(as(t.userId), { symbol: "ETH", side: "long", size: 1 });
    const key = "sig:lost-lease";
    const request: ChangeRequest = {
      action: "modify",
      tradeId: trade.id,
      change: { stopLoss: 1_000 },
    };
    const a = await store.claimChange(t.userId, key, request, CHANGE_LEASE_MS);
    if (a.status !== "new") throw new Error(`claim: ${a.status}`);
    await leaseRunsOut(t.userId, key);
    const b = await store.claimChange(t.userId, key, request, CHANGE_LEASE_MS);
    if (b.status !== "new") throw new Error(`retake: ${b.status}`);
    expect(await store.renewChange(t.userId, key, a.token, CHANGE_LEASE_MS)).toBe(false);
    const audit = {
      userId: t.userId,
      action: "modify" as const,
      tradeId: trade.id,
      venue: "paper" as const,
      symbol: trade.symbol,
      details: { stopLoss: 1_000 },
      source: "api" as const,
      ip: null,
      outcome: "ok" as const,
    };
    const late = await failure(
      store.recordChange(trade.id, { stopLoss: 1_000 }, audit, {
        userId: t.userId,
        key,
        token: a.token,
      }),
    );
    expect(late?.code).toBe("trade_closed");
    expect(await auditCount(trade.id, "modify")).toBe(0);
    const kept = await store.recordChange(trade.id, { stopLoss: 1_000 }, audit, {
      userId: t.userId,
      key,
      token: b.token,
    });
    expect(kept.stopLoss).toBe(1_000);
    expect(await auditCount(trade.id, "modify")).toBe(1);
    expect(await store.changeOutcome(t.userId, key, request)).toEqual(kept);
  });
});
