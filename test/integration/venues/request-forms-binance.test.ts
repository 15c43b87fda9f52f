// Warden's Binance USD-M requests against the request forms ccxt recorded from the real venue
// (ts/src/test/static/request/binance.json, the fapi entries copied under
// test/fixtures/venues/binance-requests.json): every request the fake receives from Warden's
// adapter must carry the recorded parameter names of its call; a parameter the recording lacks
// must be one the fixture documents from Binance's docs, and a recorded one Warden leaves out
// must be left out for the documented reason.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VenueCredentials } from "../../../src/domain/venues/types";
import { createBinanceUsdmVenue } from "../../../src/infra/venues/binanceusdm";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";
import { parseForm, type RecordedRequest } from "../../support/venues/common";
import { recordedRequests, requestDepartures } from "../../support/venues/contract";

const recorded = recordedRequests("binance-requests") as ReturnType<typeof recordedRequests> & {
  documentedExtras: Record<string, string>;
};
const extras = Object.keys(recorded.documentedExtras);
const SYMBOL = "BTC/USDT:USDT";

/** The recorded form `name` and the parameters of it Warden may leave out, with why. */
function form(name: string): { body: Record<string, string>; omitted: string[] } {
  const r = recorded.requests[name];
  if (r === undefined) throw new Error(`no recorded request ${name}`);
  const omitted = Object.keys(recorded.notSentOnPurpose)
    .filter((k) => k.startsWith(`${name}.`))
    .map((k) => k.slice(name.length + 1));
  return { body: r.body as Record<string, string>, omitted };
}

/** The recorded call a request of Warden's is an instance of. */
function formOf(method: string, path: string, p: Record<string, string>): string | null {
  switch (`${method} ${path}`) {
    case "POST /fapi/v1/order":
      return p.positionSide !== undefined
        ? "order-market-hedged-reduce-only"
        : p.reduceOnly === "true"
          ? "order-limit-reduce-only"
          : "order-market";
    case "POST /fapi/v1/algoOrder":
      return p.type === "STOP_MARKET"
        ? "algo-order-stop-loss"
        : p.type === "TAKE_PROFIT_MARKET"
          ? "algo-order-take-profit"
          : null;
    case "DELETE /fapi/v1/algoOrder":
      return "cancel-algo-order";
    case "GET /fapi/v1/openAlgoOrders":
      return "open-algo-orders";
    case "GET /fapi/v1/order":
      return "order-by-client-id";
    case "POST /fapi/v1/leverage":
      return "set-leverage";
    case "GET /fapi/v1/positionSide/dual":
      return "position-mode";
    case "GET /fapi/v3/positionRisk":
      return "position-risk";
    case "GET /fapi/v3/account":
      return "account";
    case "GET /fapi/v1/leverageBracket":
      return "leverage-brackets";
    case "GET /fapi/v1/userTrades":
      return "user-trades";
    case "GET /fapi/v1/income":
      return "income-funding";
    case "GET /fapi/v1/premiumIndex":
      return "premium-index";
    default:
      return null;
  }
}

/**
 * Calls ccxt has no recording of, each with why it is there. Public market data ccxt loads once
 * per process (GET /fapi/v1/exchangeInfo): ccxt's static request tests skip loadMarkets
 * ("performs multiple requests"). GET /fapi/v1/allAlgoOrders (Binance USD-M docs, "Query All Algo
 * Orders (USER_DATA)": symbol, startTime, limit): reconciliation reads it to tell whether a
 * stop or take-profit order closed the position; ccxt's tests record no such request.
 */
const UNRECORDED = new Set(["GET /fapi/v1/exchangeInfo", "GET /fapi/v1/allAlgoOrders"]);

/** Each request's departures from its recorded form, or that it has none. */
function departuresOf(requests: RecordedRequest[]): { forms: Set<string>; departures: string[] } {
  const forms = new Set<string>();
  const departures: string[] = [];
  for (const r of requests) {
    if (UNRECORDED.has(`${r.method} ${r.path}`)) continue;
    const sent = { ...parseForm(r.query), ...parseForm(r.body) };
    const name = formOf(r.method, r.path, sent);
    if (name === null) {
      departures.push(`${r.method} ${r.path}: no recorded form for this call`);
      continue;
    }
    forms.add(name);
    const { body: recorded, omitted } = form(name);
    // Binance USD-M docs, "Query Order (USER_DATA)": "Either orderId or origClientOrderId must be
    // sent". The recording looks an order up by its client id; reconciliation also asks by id.
    const body =
      name === "order-by-client-id" &&
      sent.orderId !== undefined &&
      sent.origClientOrderId === undefined
        ? Object.fromEntries(
            Object.entries({ ...recorded, orderId: "1" }).filter(
              ([k]) => k !== "origClientOrderId",
            ),
          )
        : recorded;
    // closePosition=true goes without quantity; otherwise quantity is required like any other.
    const allowed = omitted.filter((k) => k !== "quantity" || sent.closePosition === "true");
    departures.push(
      ...requestDepartures(body, sent, allowed)
        .filter((d) => !extras.some((x) => d === `${x}: sent, not in the recorded form`))
        .map((d) => `${r.method} ${r.path} (${name}) ${d}`),
    );
  }
  return { forms, departures };
}

describe("Binance: Warden's requests against the recorded forms", () => {
  const KEY = `RF${randomBytes(20).toString("hex")}`;
  const SECRET = randomBytes(24).toString("hex");
  const creds: VenueCredentials = {
    apiKey: Buffer.from(KEY),
    secret: Buffer.from(SECRET),
    privateKey: null,
    walletAddress: null,
  };
  let fake: FakeBinance;
  beforeAll(async () => {
    fake = await startFakeBinance({
      keys: { [KEY]: { secret: SECRET, restrictions: BINANCE_DEFAULT_RESTRICTIONS } },
    });
  });
  afterAll(async () => {
    await fake.close();
  });

  it.each([
    { mode: "one-way", dual: false },
    { mode: "hedge", dual: true },
  ])(
    "when Warden opens with SL/TP, replaces the stop and closes on Binance ($mode mode), then every request has the recorded form of its call (extra parameters documented ones only)",
    async ({ dual }) => {
      fake.setHedgeMode(KEY, dual);
      fake.requests.length = 0;
      const venue = createBinanceUsdmVenue({ origin: fake.url });
      const clientOrderId = randomBytes(16).toString("hex");
      await venue.openPosition(creds, {
        symbol: SYMBOL,
        side: "long",
        size: 0.01,
        leverage: 5,
        stopLoss: 50_000,
        takeProfit: 80_000,
        clientOrderId,
      });
      await venue.modifyPosition(creds, { symbol: SYMBOL, stopLoss: 51_000 });
      await venue.findOrder!(creds, { symbol: SYMBOL, side: "long", clientOrderId });
      await venue.positions(creds);
      await venue.balance(creds);
      await venue.market!(creds, SYMBOL);
      await venue.closePosition(creds, { symbol: SYMBOL });
      await venue.lastClose!(creds, SYMBOL, new Date(Date.now() - 60_000), "long");

      const { forms, departures } = departuresOf(fake.requests);
      // Every call Warden makes in a position's life was exercised and compared.
      expect([...forms].sort()).toEqual(
        [
          dual ? "order-market-hedged-reduce-only" : "order-market",
          ...(dual ? [] : ["order-limit-reduce-only"]),
          "algo-order-stop-loss",
          "algo-order-take-profit",
          "cancel-algo-order",
          "open-algo-orders",
          "order-by-client-id",
          "set-leverage",
          "position-mode",
          "position-risk",
          "account",
          "leverage-brackets",
          "user-trades",
          "income-funding",
          "premium-index",
        ].sort(),
      );
      expect(departures).toEqual([]);
      // The whole-position triggers really go without quantity, and Warden's own id is on the
      // entry (w-…), never on the close or the triggers.
      const sent = fake.requests.map((r) => ({
        ...r,
        p: { ...parseForm(r.query), ...parseForm(r.body) },
      }));
      const triggers = sent.filter((r) => r.method === "POST" && r.path === "/fapi/v1/algoOrder");
      for (const t of triggers.filter((r) => r.p.closePosition === "true")) {
        expect(t.p).not.toHaveProperty("quantity");
      }
      const orders = sent.filter((r) => r.method === "POST" && r.path === "/fapi/v1/order");
      expect(orders.map((o) => o.p.newClientOrderId === `w-${clientOrderId}`)).toEqual([
        true,
        false,
      ]);
    },
  );

  it("when a request carries a parameter neither recorded nor documented, then the check names it", () => {
    const { body } = form("order-market");
    const invented = { method: "POST", path: "/fapi/v1/order", query: "", headers: {} };
    const { departures } = departuresOf([
      { ...invented, body: new URLSearchParams({ ...body, quantityy: "1" }).toString() },
      { ...invented, path: "/fapi/v1/batchOrders", body: "" },
    ]);
    expect(departures).toEqual([
      "POST /fapi/v1/order (order-market) quantityy: sent, not in the recorded form",
      "POST /fapi/v1/batchOrders: no recorded form for this call",
    ]);
  });
});
