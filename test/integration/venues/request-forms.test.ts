// Warden's requests against the request forms recorded from the real venues (ccxt's
// ts/src/test/static/request/, copied under test/fixtures/venues/): every request the fake
// receives from Warden's adapter for an endpoint it uses must carry the recorded parameter
// names, nesting and value types — a renamed, invented or retyped parameter fails here.
import { randomBytes } from "node:crypto";
import ccxt from "ccxt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBybitVenue } from "../../../src/infra/venues/bybit";
import { createHyperliquidVenue } from "../../../src/infra/venues/hyperliquid";
import {
  BYBIT_TRADE_ONLY_QUERY_API,
  type FakeBybit,
  startFakeBybit,
} from "../../support/venues/bybit";
import { recordedRequests, requestDepartures } from "../../support/venues/contract";
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";

const oracle = new ccxt.hyperliquid();
const wallet = () => {
  const key = randomBytes(32).toString("hex");
  return { key, address: oracle.ethGetAddressFromPrivateKey(`0x${key}`).toLowerCase() };
};
const BTC = "BTC/USDC:USDC";
const hl = recordedRequests("hyperliquid-requests");
const form = (name: string) => {
  const r = hl.requests[name];
  if (r === undefined) throw new Error(`no recorded request ${name}`);
  return r.body as Record<string, unknown> & { action: { orders?: unknown[] } };
};
const omitted = Object.keys(hl.notSentOnPurpose);

describe("the request-form checker", () => {
  it("when a request departs from the recorded form (renamed, invented, retyped or missing parameter), then the check names each departure", () => {
    const recordedForm = form("update-leverage-isolated");
    expect(requestDepartures(recordedForm, structuredClone(recordedForm))).toEqual([]);
    const sent = structuredClone(recordedForm) as {
      action: Record<string, unknown>;
      [k: string]: unknown;
    };
    delete sent.action.isCross;
    sent.action.isIsolated = true;
    sent.action.leverage = "5";
    delete sent.nonce;
    expect(requestDepartures(recordedForm, sent).sort()).toEqual(
      [
        "action.isIsolated: sent, not in the recorded form",
        "action.isCross: recorded, not sent",
        "action.leverage: number recorded, string sent",
        "nonce: recorded, not sent",
      ].sort(),
    );
  });
});

describe("Hyperliquid: Warden's requests against the recorded forms", () => {
  const master = wallet();
  const agent = wallet();
  let fake: FakeHyperliquid;
  const creds = () => ({
    apiKey: null,
    secret: null,
    privateKey: Buffer.from(agent.key),
    walletAddress: master.address,
    marginMode: "isolated" as const,
  });
  beforeAll(async () => {
    fake = await startFakeHyperliquid({
      roles: { [agent.address]: { role: "agent", master: master.address } },
      balances: { [master.address]: 50_000 },
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  it("when Warden opens with SL/TP, moves the stop, looks its entry up, reads positions and closes, then every request has the recorded form of its call", async () => {
    const venue = createHyperliquidVenue({ origin: fake.url });
    const cloid = randomBytes(16).toString("hex");
    await venue.openPosition(creds(), {
      symbol: BTC,
      side: "long",
      size: 0.01,
      leverage: 5,
      stopLoss: 60_000,
      takeProfit: 70_000,
      clientOrderId: cloid,
    });
    await venue.modifyPosition(creds(), { symbol: BTC, stopLoss: 61_000 });
    await venue.findOrder!(creds(), { symbol: BTC, side: "long", clientOrderId: cloid });
    await venue.positions(creds());
    await venue.closePosition(creds(), { symbol: BTC });

    const sent = fake.requests.map((r) => ({
      path: r.path,
      body: JSON.parse(r.body) as Record<string, unknown>,
    }));
    const exchange = (type: string) =>
      sent.filter(
        (r) => r.path === "/exchange" && (r.body.action as { type?: string }).type === type,
      );
    const info = (type: string) => sent.filter((r) => r.path === "/info" && r.body.type === type);

    // Each endpoint Warden uses was exercised, and each request matches its recorded form.
    const checks: Array<[string, Record<string, unknown>, unknown]> = [];
    for (const r of exchange("updateLeverage")) {
      checks.push(["updateLeverage", form("update-leverage-isolated"), r.body]);
    }
    const orders = exchange("order");
    for (const r of orders) {
      const action = r.body.action as { grouping: string; orders: Array<{ c?: string }> };
      // The entry with its cloid is the recorded cloid order; its children, the recorded TP/SL
      // children; a whole-position trigger (positionTpsl), a recorded child on its own.
      const entry = form("order-market-with-cloid").action.orders![0];
      const children = form("order-with-market-sl-tp").action.orders!.slice(1);
      const plain = form("order-market-reduce-only").action.orders![0];
      const shape =
        action.grouping === "normalTpsl"
          ? [entry, ...children]
          : action.grouping === "positionTpsl"
            ? [children[1]]
            : [action.orders[0]?.c === undefined ? plain : entry];
      const recordedForm = structuredClone(form("order-with-market-sl-tp"));
      recordedForm.action.orders = shape;
      checks.push([`order (${action.grouping})`, recordedForm, r.body]);
    }
    for (const r of exchange("cancel")) checks.push(["cancel", form("cancel"), r.body]);
    for (const r of info("clearinghouseState")) {
      checks.push(["clearinghouseState", form("clearinghouse-state"), r.body]);
    }
    for (const r of info("frontendOpenOrders")) {
      checks.push(["frontendOpenOrders", form("frontend-open-orders"), r.body]);
    }
    for (const r of info("orderStatus")) {
      checks.push(["orderStatus", form("order-status-by-cloid"), r.body]);
    }

    expect(new Set(checks.map(([name]) => name))).toEqual(
      new Set([
        "updateLeverage",
        "order (normalTpsl)",
        "order (positionTpsl)",
        "order (na)",
        "cancel",
        "clearinghouseState",
        "frontendOpenOrders",
        "orderStatus",
      ]),
    );
    const departures = checks.flatMap(([name, recordedForm, body]) =>
      requestDepartures(recordedForm, body, omitted).map((d) => `${name} ${d}`),
    );
    expect(departures).toEqual([]);
    // The one recorded field Warden leaves out on purpose really is left out.
    for (const r of orders) expect(r.body.action).not.toHaveProperty("builder");
  });
});

describe("Bybit: Warden's order requests against the recorded forms", () => {
  const recordedBybit = recordedRequests("bybit-requests") as ReturnType<
    typeof recordedRequests
  > & { documentedExtras: Record<string, string> };
  const bybitForm = (name: string) => recordedBybit.requests[name]?.body as Record<string, unknown>;
  const key = {
    apiKey: `RF${randomBytes(9).toString("hex")}`,
    secret: randomBytes(18).toString("hex"),
  };
  let fake: FakeBybit;
  beforeAll(async () => {
    fake = await startFakeBybit({
      keys: { [key.apiKey]: { secret: key.secret, queryApi: BYBIT_TRADE_ONLY_QUERY_API } },
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  it("when Warden opens with SL/TP and closes on Bybit, then each order/create body has the recorded form, extra parameters being documented ones only", async () => {
    const venue = createBybitVenue({ origin: fake.url });
    const creds = {
      apiKey: Buffer.from(key.apiKey),
      secret: Buffer.from(key.secret),
      privateKey: null,
      walletAddress: null,
    };
    const symbol = "BTC/USDT:USDT";
    await venue.openPosition(creds, {
      symbol,
      side: "long",
      size: 0.01,
      stopLoss: 50_000,
      takeProfit: 80_000,
      clientOrderId: randomBytes(16).toString("hex"),
    });
    await venue.closePosition(creds, { symbol });
    const creates = fake.requests
      .filter((r) => r.path === "/v5/order/create")
      .map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(creates).toHaveLength(2);
    const [open, close] = creates as [Record<string, unknown>, Record<string, unknown>];
    const extras = Object.keys(recordedBybit.documentedExtras);
    const departures = [
      ...requestDepartures(bybitForm("order-market-with-sl-tp"), open).map((d) => `open ${d}`),
      ...requestDepartures(bybitForm("order-market-reduce-only"), close).map((d) => `close ${d}`),
    ].filter((d) => !extras.some((x) => d.endsWith(` ${x}: sent, not in the recorded form`)));
    expect(departures).toEqual([]);
  });
});
