// The kill switch in the trading domain, on the real pause store: a global pause refuses opens
// and modifications for everyone and leaves closes alone unless it blocks them; a user's pause
// touches only that user; an unreadable switch refuses everything (fail safe); each pull of the
// switch is a security event.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKillSwitch, type KillSwitchError } from "../../../src/domain/trading/pause";
import { TradingPausedError } from "../../../src/domain/trading/trading";
import { generateFernetKey, parseMasterKeys } from "../../../src/domain/vault";
import { createAccountsRepo } from "../../../src/infra/accounts-repo";
import { createOrm, sqlOf } from "../../../src/infra/database";
import { createPauseStore } from "../../../src/infra/pause-store";
import { createTestDatabase, type TestDatabase } from "../../support/context";
import { paperTrading, seedPaperUsers } from "../../support/trading-fixtures";

let db: TestDatabase;
let orm: MikroORM;
let alice: string;
let bob: string;
const ring = parseMasterKeys(`1:${generateFernetKey()}`);
const pepper = randomBytes(32);

beforeAll(async () => {
  db = await createTestDatabase();
  orm = await createOrm({ url: db.url, poolMax: 4 });
  [alice, bob] = (await seedPaperUsers(orm, 2, 9_300_000)) as [string, string];
});
afterAll(async () => {
  await orm.close();
  await db.drop();
});

const cli = { via: "cli" } as const;
const killSwitch = () => {
  const sql = sqlOf(orm);
  const repo = createAccountsRepo(sql);
  return createKillSwitch({
    store: createPauseStore(sql),
    recordEvent: (e) => repo.recordEvent(e),
  });
};
const as = (userId: string) => ({ userId, source: "api" as const, ip: null });
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe("kill switch", () => {
  it("when trading is paused for everyone, then opens and modifications are refused, closes still work, and resume lifts it", async () => {
    const trading = paperTrading(orm, ring, pepper);
    const ks = killSwitch();
    const open = await trading.openTrade(as(alice), { symbol: "BTC", side: "long", size: 0.01 });

    await ks.pause(cli, { scope: "global" }, { reason: "venue incident" });
    const refused = await refusal(
      trading.openTrade(as(bob), { symbol: "ETH", side: "long", size: 1 }),
    );
    expect(refused).toBeInstanceOf(TradingPausedError);
    expect((refused as TradingPausedError).scope).toBe("global");
    expect((refused as TradingPausedError).message).toMatch(/paused.*You can still close/);
    const modify = await refusal(trading.modifyTrade(as(alice), open.id, { stopLoss: 1 }));
    expect((modify as TradingPausedError).code).toBe("trading_paused");
    expect((await trading.closeTrade(as(alice), open.id)).status).toBe("closed");

    await ks.resume(cli, { scope: "global" });
    const again = await trading.openTrade(as(bob), { symbol: "ETH", side: "long", size: 1 });
    await trading.closeTrade(as(bob), again.id);
  });

  it("when the pause blocks closes, then a close is refused too and the trade stays open", async () => {
    const trading = paperTrading(orm, ring, pepper);
    const ks = killSwitch();
    const open = await trading.openTrade(as(alice), { symbol: "SOL", side: "short", size: 1 });
    await ks.pause(cli, { scope: "global" }, { blocksClose: true });
    const refused = await refusal(trading.closeTrade(as(alice), open.id));
    expect((refused as TradingPausedError).message).toMatch(/no trade action is accepted/);
    expect(
      (await trading.listTrades(alice, { limit: 5, status: "open" })).map((t) => t.id),
    ).toEqual([open.id]);
    await ks.resume(cli, { scope: "global" });
    await trading.closeTrade(as(alice), open.id);
  });

  it("when one user is paused, then only that user is refused", async () => {
    const trading = paperTrading(orm, ring, pepper);
    const ks = killSwitch();
    await ks.pause(cli, { scope: "user", userId: alice });
    const refused = await refusal(
      trading.openTrade(as(alice), { symbol: "BTC", side: "long", size: 0.01 }),
    );
    expect((refused as TradingPausedError).scope).toBe("account");
    const t = await trading.openTrade(as(bob), { symbol: "BTC", side: "long", size: 0.01 });
    await trading.closeTrade(as(bob), t.id);
    expect((await ks.status()).map((p) => p.userId)).toEqual([alice]);
    await ks.resume(cli, { scope: "user", userId: alice });
    expect(await ks.status()).toEqual([]);
  });

  it("when the pause state cannot be read, then every trade action is refused", async () => {
    const broken = { activeFor: () => Promise.reject(new Error("connection refused")) };
    const trading = paperTrading(orm, ring, pepper, true, broken);
    const open = await refusal(
      trading.openTrade(as(bob), { symbol: "BTC", side: "long", size: 0.01 }),
    );
    expect((open as TradingPausedError).scope).toBe("unknown");
    const close = await refusal(trading.closeTrade(as(bob), "1"));
    expect(close).toBeInstanceOf(TradingPausedError);
    const trades = await sqlOf(orm)(
      "select count(*)::int as n from trades where user_id = ? and status = 'open'",
      [bob],
    );
    expect(trades[0]!.n).toBe(0);
  });

  it("when an unknown user is paused, then it is refused and nothing is recorded", async () => {
    const err = await refusal(killSwitch().pause(cli, { scope: "user", userId: "999999" }));
    expect((err as KillSwitchError).code).toBe("no_user");
    expect(await killSwitch().status()).toEqual([]);
  });

  it("when the switch is pulled and lifted, then each is a security event naming who and what", async () => {
    const rows = await sqlOf(orm)(
      "select kind, outcome, user_id::text as user_id, details from security_events where kind like 'trading_%' order by id",
    );
    expect(rows.map((r) => [r.kind, r.outcome, r.user_id])).toEqual([
      ["trading_paused", "ok", null],
      ["trading_resumed", "ok", null],
      ["trading_paused", "ok", null],
      ["trading_resumed", "ok", null],
      ["trading_paused", "ok", alice],
      ["trading_resumed", "ok", alice],
    ]);
    expect(rows[0]!.details).toMatchObject({
      target: "global",
      by: { via: "cli" },
      reason: "venue incident",
      blocksClose: false,
    });
    expect(rows[2]!.details).toMatchObject({ blocksClose: true });
  });
});
