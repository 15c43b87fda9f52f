// The Hyperliquid adapter against a local fake that recovers the signer of every signed action:
// scope verification (S7.3), trading signed by the agent for its master, and reads of the master.
import { randomBytes } from "node:crypto";
import ccxt from "ccxt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { evaluateHyperliquidScopes } from "../../../src/domain/venues/policies/hyperliquid";
import type { VenueCredentials } from "../../../src/domain/venues/types";
import { VenueError } from "../../../src/domain/venues/types";
import { createHyperliquidVenue } from "../../../src/infra/venues/hyperliquid";
import { venueError } from "../../support/venues/expect";
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";

const BTC = "BTC/USDC:USDC";
// ccxt's own derivation is the oracle, independent of the adapter's.
const oracle = new ccxt.hyperliquid();

interface Wallet {
  key: string;
  address: string;
}

/** A fresh random key pair; no private key is ever a literal in the repository. */
function wallet(): Wallet {
  const key = randomBytes(32).toString("hex");
  return { key, address: oracle.ethGetAddressFromPrivateKey(`0x${key}`).toLowerCase() };
}

function creds(master: string | null, key: string | null): VenueCredentials {
  return {
    apiKey: null,
    secret: null,
    privateKey: key === null ? null : Buffer.from(key, "utf8"),
    walletAddress: master,
  };
}

const master = wallet();
const agent = wallet();
const otherMaster = wallet();
const othersAgent = wallet();
let fake: FakeHyperliquid;
let venue: ReturnType<typeof createHyperliquidVenue>;

beforeAll(async () => {
  fake = await startFakeHyperliquid({
    roles: {
      [agent.address]: { role: "agent", master: master.address },
      [othersAgent.address]: { role: "agent", master: otherMaster.address },
    },
    balances: { [master.address]: 25_000 },
  });
  venue = createHyperliquidVenue({ origin: fake.url });
});

afterAll(async () => {
  await fake.close();
});

describe("Hyperliquid scope verification", () => {
  afterEach(() => {
    fake.setRole(agent.address, { role: "agent", master: master.address });
  });

  it("when the key is an agent approved by the given master, then the report names signer and master and the policy accepts trade and read", async () => {
    const before = fake.requests.length;
    // A checksum-cased master and a 0x-prefixed key are accepted as pasted.
    const report = await venue.verifyScopes(
      creds(oracle.ethGetAddressFromPrivateKey(`0x${master.key}`), `0x${agent.key}\n`),
    );
    expect(report).toMatchObject({
      venue: "hyperliquid",
      account: master.address,
      ipBound: false,
      expiresAt: null,
      permissions: {
        signer: agent.address,
        master: master.address,
        role: "agent",
        roleMaster: master.address,
      },
    });
    const sent = fake.requests.slice(before).map((r) => JSON.parse(r.body));
    expect(sent[0]).toEqual({ type: "userRole", user: agent.address });
    expect(fake.requests.slice(before).every((r) => r.path === "/info")).toBe(true);
    expect(evaluateHyperliquidScopes(report)).toEqual({
      ok: true,
      scopes: ["trade", "read"],
      warnings: [],
    });
  });

  it("when the pasted key is the master's own private key, then it is refused as master_private_key", async () => {
    const report = await venue.verifyScopes(creds(master.address, master.key));
    expect(report.permissions).toMatchObject({ signer: master.address, master: master.address });
    const decision = evaluateHyperliquidScopes(report);
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.refused.map((r) => r.permission)).toEqual(["master_private_key"]);
    expect(decision.refused[0]?.fix).toContain("app.hyperliquid.xyz/API");
  });

  it("when the key is an agent of another master, then it is refused as agent_of_another_account", async () => {
    const report = await venue.verifyScopes(creds(master.address, othersAgent.key));
    expect(report.permissions).toMatchObject({ role: "agent", roleMaster: otherMaster.address });
    const decision = evaluateHyperliquidScopes(report);
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.refused.map((r) => r.permission)).toEqual(["agent_of_another_account"]);
  });

  it.each([
    ["user", { role: "user" as const }],
    ["vault", { role: "vault" as const }],
    ["subAccount", { role: "subAccount" as const, master: otherMaster.address }],
    ["missing", null],
  ])(
    "when the key's address is a %s, then it is refused as not_an_agent",
    async (role, setting) => {
      const key = wallet();
      if (setting !== null) fake.setRole(key.address, setting);
      const report = await venue.verifyScopes(creds(master.address, key.key));
      expect(report.permissions).toMatchObject({ signer: key.address, role, roleMaster: null });
      const decision = evaluateHyperliquidScopes(report);
      expect(decision.ok).toBe(false);
      if (decision.ok) return;
      expect(decision.refused.map((r) => r.permission)).toEqual(["not_an_agent"]);
    },
  );

  it("when the agent has a validUntil, then extraAgents supplies it, the report carries expiresAt and the decision warns expires", async () => {
    const validUntil = Date.now() + 30 * 86_400_000;
    fake.setRole(agent.address, { role: "agent", master: master.address, validUntil });
    const before = fake.requests.length;
    const report = await venue.verifyScopes(creds(master.address, agent.key));
    expect(fake.requests.slice(before).map((r) => JSON.parse(r.body))).toContainEqual({
      type: "extraAgents",
      user: master.address,
    });
    expect(report.permissions.validUntil).toBe(validUntil);
    expect(report.expiresAt?.getTime()).toBe(validUntil);
    const decision = evaluateHyperliquidScopes(report);
    expect(decision).toMatchObject({ ok: true, scopes: ["trade", "read"] });
    expect(decision.warnings.map((w) => w.code)).toEqual(["expires"]);
  });

  it("when the venue stops knowing the agent (setRole at runtime), then a re-check refuses it", async () => {
    expect(
      evaluateHyperliquidScopes(await venue.verifyScopes(creds(master.address, agent.key))).ok,
    ).toBe(true);
    fake.setRole(agent.address, null);
    const decision = evaluateHyperliquidScopes(
      await venue.verifyScopes(creds(master.address, agent.key)),
    );
    expect(decision).toMatchObject({ ok: false, refused: [{ permission: "not_an_agent" }] });
  });

  it("when the private key or the master address is missing, then unsupported_credentials and nothing is sent", async () => {
    const before = fake.requests.length;
    expect((await venueError(venue.verifyScopes(creds(master.address, null)))).code).toBe(
      "unsupported_credentials",
    );
    expect((await venueError(venue.verifyScopes(creds(null, agent.key)))).code).toBe(
      "unsupported_credentials",
    );
    expect((await venueError(venue.verifyScopes(creds("0x1234", agent.key)))).code).toBe(
      "unsupported_credentials",
    );
    expect(fake.requests.length).toBe(before);
  });

  it("when the private key is not 32-byte hex, then unsupported_credentials without echoing it", async () => {
    for (const bad of [
      agent.key.slice(0, 62),
      `${agent.key}00`,
      `${agent.key.slice(0, 63)}g`,
      "correct horse battery staple",
      "0".repeat(64),
    ]) {
      const err = await venueError(venue.verifyScopes(creds(master.address, bad)));
      expect(err.code).toBe("unsupported_credentials");
      expect(err.message).not.toContain(bad);
      expect(err.message).not.toContain(agent.key.slice(0, 16));
    }
  });
});

describe("Hyperliquid trading", () => {
  const agentCreds = () => creds(master.address, agent.key);

  afterEach(async () => {
    // Leave the master flat for the next test.
    await venue.closePosition(agentCreds(), { symbol: BTC });
    fake.setMarkPrice("BTC", 63_000);
    fake.setBalance(master.address, 25_000);
  });

  it("when the approved agent opens a position, then the fake recovers exactly that signer, acts for the master, and the fill comes back", async () => {
    const failures = fake.signatureFailures;
    const actionsBefore = fake.actions.length;
    const fill = await venue.openPosition(agentCreds(), {
      symbol: BTC,
      side: "long",
      size: 0.01,
      leverage: 5,
    });
    expect(fill).toEqual({
      orderId: expect.any(String),
      symbol: BTC,
      side: "long",
      size: 0.01,
      price: 63_000,
    });
    const actions = fake.actions.slice(actionsBefore);
    const order = actions.find((a) => a.type === "order");
    expect(order?.signer).toBe(agent.address);
    expect(order?.actingFor).toBe(master.address);
    // A market order is an IOC limit 5 % through the price.
    expect(order?.action).toMatchObject({
      grouping: "na",
      orders: [{ a: 0, b: true, p: "66150", s: "0.01", r: false, t: { limit: { tif: "Ioc" } } }],
    });
    const leverage = actions.find((a) => a.type === "updateLeverage");
    expect(leverage).toMatchObject({ signer: agent.address, action: { leverage: 5 } });
    // ccxt's builder-fee approval is user-signed and an agent cannot make it: never sent, and
    // no builder is attached to the order.
    expect(actions.some((a) => a.type === "approveBuilderFee")).toBe(false);
    expect(order?.action).not.toHaveProperty("builder");
    expect(fake.signatureFailures).toBe(failures);
    expect(fake.positions(master.address)).toEqual([
      { coin: "BTC", szi: 0.01, entryPx: 63_000, leverage: 5, isCross: true },
    ]);
    expect(fake.positions(agent.address)).toEqual([]);
  });

  it("when an order is signed by a key the venue never approved, then the fake rejects the signer and the adapter throws invalid_key", async () => {
    const stranger = wallet();
    const failures = fake.signatureFailures;
    const actionsBefore = fake.actions.length;
    const err = await venueError(
      venue.openPosition(creds(master.address, stranger.key), {
        symbol: BTC,
        side: "long",
        size: 0.01,
      }),
    );
    expect(err.code).toBe("invalid_key");
    expect(err.message).not.toContain(stranger.key);
    const order = fake.actions.slice(actionsBefore).find((a) => a.type === "order");
    expect(order).toMatchObject({ signer: stranger.address, actingFor: null });
    expect(fake.signatureFailures).toBeGreaterThan(failures);
    expect(fake.positions(master.address)).toEqual([]);
  });

  it("when r and s arrive without leading zeros or the action was altered after signing, then the fake recovers the agent or a stranger respectively", async () => {
    const signer = new ccxt.hyperliquid({
      walletAddress: master.address,
      privateKey: `0x${agent.key}`,
    });
    const action = { type: "updateLeverage", asset: 0, isCross: true, leverage: 3 };
    const nonce = Date.now();
    const sig = signer.signL1Action(action, nonce) as { r: string; s: string; v: number };
    const post = (body: unknown) =>
      fetch(`${fake.url}/exchange`, { method: "POST", body: JSON.stringify(body) });
    const unpadded = {
      r: `0x${BigInt(sig.r).toString(16)}`,
      s: `0x${BigInt(sig.s).toString(16)}`,
      v: sig.v,
    };
    await post({ action, nonce, signature: unpadded });
    expect(fake.actions.at(-1)).toMatchObject({ signer: agent.address, actingFor: master.address });

    const failures = fake.signatureFailures;
    await post({ action: { ...action, leverage: 40 }, nonce, signature: sig });
    expect(fake.actions.at(-1)?.signer).not.toBe(agent.address);
    expect(fake.actions.at(-1)?.response).toMatchObject({ status: "err" });
    expect(fake.signatureFailures).toBe(failures + 1);
  });

  it("when an agent whose validUntil has passed signs an order, then the fake rejects it and the adapter throws invalid_key", async () => {
    const expired = wallet();
    fake.setRole(expired.address, {
      role: "agent",
      master: master.address,
      validUntil: Date.now() - 1000,
    });
    const err = await venueError(
      venue.openPosition(creds(master.address, expired.key), {
        symbol: BTC,
        side: "short",
        size: 0.01,
      }),
    );
    expect(err.code).toBe("invalid_key");
    expect(fake.positions(master.address)).toEqual([]);
  });

  it("when the master's own key is used to trade, then unsupported_credentials and nothing reaches /exchange", async () => {
    const before = fake.requests.length;
    const err = await venueError(
      venue.openPosition(creds(master.address, master.key), {
        symbol: BTC,
        side: "long",
        size: 0.01,
      }),
    );
    expect(err.code).toBe("unsupported_credentials");
    expect(fake.requests.length).toBe(before);
  });

  it("when a position is opened and then closed, then the master's book is flat, the triggers are gone and the profit is in the balance", async () => {
    await venue.openPosition(agentCreds(), {
      symbol: BTC,
      side: "long",
      size: 0.02,
      stopLoss: 60_000,
      takeProfit: 70_000,
    });
    expect(
      fake
        .openOrders(master.address)
        .map((o) => [o.trigger?.tpsl, o.trigger?.triggerPx, o.reduceOnly, o.isBuy]),
    ).toEqual(
      expect.arrayContaining([
        ["sl", 60_000, true, false],
        ["tp", 70_000, true, false],
      ]),
    );
    fake.setMarkPrice("BTC", 64_000);
    const actionsBefore = fake.actions.length;
    const fill = await venue.closePosition(agentCreds(), { symbol: BTC });
    expect(fill).toMatchObject({ symbol: BTC, side: "long", size: 0.02, price: 64_000 });
    const close = fake.actions.slice(actionsBefore).find((a) => a.type === "order");
    expect(close).toMatchObject({
      signer: agent.address,
      actingFor: master.address,
      action: { orders: [{ b: false, r: true, s: "0.02" }] },
    });
    expect(fake.positions(master.address)).toEqual([]);
    expect(fake.openOrders(master.address)).toEqual([]);
    const [usdc] = await venue.balance(agentCreds());
    expect(usdc).toEqual({ currency: "USDC", total: 25_020, free: 25_020 });
    expect(await venue.closePosition(agentCreds(), { symbol: BTC })).toBeNull();
  });

  it("when a short is opened, then positions reads it from the master's clearinghouseState with mark, PnL and leverage", async () => {
    await venue.openPosition(agentCreds(), {
      symbol: BTC,
      side: "short",
      size: 0.01,
      leverage: 10,
    });
    fake.setMarkPrice("BTC", 62_000);
    const before = fake.requests.length;
    const positions = await venue.positions(agentCreds());
    expect(positions).toEqual([
      {
        symbol: BTC,
        side: "short",
        size: 0.01,
        entryPrice: 63_000,
        markPrice: 62_000,
        unrealizedPnl: 10,
        leverage: 10,
      },
    ]);
    const sent = fake.requests.slice(before);
    expect(sent.every((r) => r.path === "/info")).toBe(true);
    expect(sent.map((r) => JSON.parse(r.body))).toContainEqual({
      type: "clearinghouseState",
      user: master.address,
    });
  });

  it("when the balance is read, then it is the master's clearinghouseState margin summary in USDC, and nothing is signed", async () => {
    fake.setBalance(master.address, 12_345.5);
    const before = fake.requests.length;
    expect(await venue.balance(agentCreds())).toEqual([
      { currency: "USDC", total: 12_345.5, free: 12_345.5 },
    ]);
    const sent = fake.requests.slice(before);
    expect(sent.every((r) => r.path === "/info")).toBe(true);
    expect(sent.map((r) => JSON.parse(r.body))).toContainEqual({
      type: "clearinghouseState",
      user: master.address,
    });
  });

  it("when a position is modified, then the size difference is traded and the stop loss and take profit are replaced by whole-position triggers", async () => {
    await venue.openPosition(agentCreds(), {
      symbol: BTC,
      side: "long",
      size: 0.01,
      stopLoss: 60_000,
      takeProfit: 70_000,
    });
    const grown = await venue.modifyPosition(agentCreds(), {
      symbol: BTC,
      size: 0.03,
      stopLoss: 61_000,
      takeProfit: null,
    });
    expect(grown).toMatchObject({ symbol: BTC, side: "long", size: 0.02, price: 63_000 });
    expect(fake.positions(master.address)[0]?.szi).toBe(0.03);
    const triggers = fake.openOrders(master.address);
    expect(triggers).toHaveLength(1);
    expect(triggers[0]).toMatchObject({
      isPositionTpsl: true,
      reduceOnly: true,
      isBuy: false,
      trigger: { tpsl: "sl", triggerPx: 61_000 },
    });

    const shrunk = await venue.modifyPosition(agentCreds(), { symbol: BTC, size: 0.01 });
    expect(shrunk).toMatchObject({ side: "long", size: 0.02 });
    expect(fake.positions(master.address)[0]?.szi).toBe(0.01);
    expect(fake.actions.at(-1)?.action).toMatchObject({ orders: [{ b: false, r: true }] });

    expect(
      await venue.modifyPosition(agentCreds(), { symbol: BTC, stopLoss: null, takeProfit: 66_000 }),
    ).toBeNull();
    expect(fake.openOrders(master.address).map((o) => o.trigger)).toEqual([
      { tpsl: "tp", triggerPx: 66_000, isMarket: true },
    ]);
  });

  it("when a new stop loss is refused by the venue, then the old one stays and the position is never unprotected", async () => {
    await venue.openPosition(agentCreds(), {
      symbol: BTC,
      side: "long",
      size: 0.01,
      stopLoss: 60_000,
    });
    fake.rejectNextTrigger();
    await expect(
      venue.modifyPosition(agentCreds(), { symbol: BTC, stopLoss: 62_500 }),
    ).rejects.toBeInstanceOf(VenueError);
    expect(fake.openOrders(master.address).map((o) => o.trigger)).toEqual([
      { tpsl: "sl", triggerPx: 60_000, isMarket: true },
    ]);
    await venue.closePosition(agentCreds(), { symbol: BTC });
  });

  it("when a shrink is smaller than one lot, then it is refused and nothing is traded (no rounding up to a lot)", async () => {
    await venue.openPosition(agentCreds(), { symbol: BTC, side: "long", size: 0.01 });
    const err = await venueError(
      venue.modifyPosition(agentCreds(), { symbol: BTC, size: 0.009999 }),
    );
    expect(err.code).toBe("invalid_order");
    expect(fake.positions(master.address)[0]?.szi).toBe(0.01);
    await venue.closePosition(agentCreds(), { symbol: BTC });
  });

  it("when there is no position to modify, then invalid_order", async () => {
    const err = await venueError(
      venue.modifyPosition(agentCreds(), { symbol: BTC, stopLoss: 60_000 }),
    );
    expect(err.code).toBe("invalid_order");
  });

  it("when the master lacks margin, then the venue's refusal surfaces as insufficient_funds", async () => {
    fake.setBalance(master.address, 50);
    const err = await venueError(
      venue.openPosition(agentCreds(), { symbol: BTC, side: "long", size: 0.1 }),
    );
    expect(err.code).toBe("insufficient_funds");
    expect(fake.positions(master.address)).toEqual([]);
  });

  it("when the symbol is not listed, then unknown_symbol", async () => {
    const err = await venueError(
      venue.openPosition(agentCreds(), { symbol: "DOGE/USDC:USDC", side: "long", size: 100 }),
    );
    expect(err.code).toBe("unknown_symbol");
  });
});
