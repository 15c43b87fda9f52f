// Hyperliquid through ccxt: the master address reads, an agent (API) wallet signs. verifyScopes
// proves that the pasted key is an agent approved by that master before anything is stored (S7.3).
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import ccxt from "ccxt";
import type {
  Balance,
  Fill,
  ModifyPositionInput,
  OpenPositionInput,
  OrderLookup,
  Position,
  ScopeReport,
  Side,
  Venue,
  VenueCredentials,
} from "../../domain/venues/types";
import { VenueError } from "../../domain/venues/types";
import { CCXT_BASE_OPTIONS, rebaseUrls } from "./ccxt-common";
import { mapHyperliquidError } from "./hyperliquid-errors";
import { createRateGate, keyIdOf, type PauseStore } from "./rate-gate";

export interface HyperliquidVenueOptions {
  /** VENUE_URL_HYPERLIQUID: replaces https://api.hyperliquid.xyz (tests, a proxy). */
  origin?: string;
  timeoutMs?: number;
  /** ccxt's client-side limiter; default on against the real venue, off with an origin. */
  enableRateLimit?: boolean;
  /** The rate gate's pauses shared between processes (createRedisPauses). */
  pauses?: PauseStore;
  /**
   * Hyperliquid testnet: L1 actions are signed with phantom-agent source "b" instead of "a"
   * (Hyperliquid's signing docs; ccxt's `sandboxMode` option), so a testnet signature is not
   * valid on the mainnet and the reverse.
   */
  testnet?: boolean;
}

type Client = InstanceType<typeof ccxt.hyperliquid>;
type Market = ReturnType<Client["market"]>;
type CcxtOrder = Awaited<ReturnType<Client["createOrder"]>>;

const VENUE = "Hyperliquid";
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const PRIVATE_KEY = /^(?:0x)?([0-9a-fA-F]{64})$/;
const WALLET_UNKNOWN = /User or API Wallet \S+ does not exist/;

/** The EVM address (lower-case, 0x-prefixed) of a 32-byte secp256k1 private key. */
export function evmAddressOf(privateKey: Uint8Array): string {
  const publicKey = secp256k1.getPublicKey(privateKey, false);
  return `0x${Buffer.from(keccak_256(publicKey.subarray(1)).subarray(-20)).toString("hex")}`;
}

function unsupported(message: string): VenueError {
  return new VenueError("unsupported_credentials", message, false);
}

function masterOf(creds: VenueCredentials): string {
  const address = creds.walletAddress?.trim() ?? "";
  if (address === "") {
    throw unsupported("Hyperliquid needs the master account's address (0x…, 40 hex characters).");
  }
  if (!ADDRESS.test(address)) {
    throw unsupported("The Hyperliquid master address must be 0x followed by 40 hex characters.");
  }
  return address.toLowerCase();
}

/** The agent key as 64 lower-case hex characters. Never echoes what was pasted. */
function agentKeyOf(creds: VenueCredentials): string {
  if (creds.privateKey === null || creds.privateKey.length === 0) {
    throw unsupported("Hyperliquid needs the private key of an API wallet.");
  }
  const match = PRIVATE_KEY.exec(creds.privateKey.toString("utf8").trim());
  if (!match?.[1]) {
    throw unsupported(
      "A Hyperliquid API wallet private key is 32 bytes of hex (64 characters, optionally 0x-prefixed).",
    );
  }
  return match[1].toLowerCase();
}

function signerOf(keyHex: string): string {
  const bytes = Buffer.from(keyHex, "hex");
  try {
    return evmAddressOf(bytes);
  } catch {
    throw unsupported("That private key is not a valid secp256k1 key.");
  } finally {
    bytes.fill(0);
  }
}

/** Hyperliquid answers an unknown signer with this; it is a key problem, not a bad order. */
function mapError(err: unknown): VenueError {
  if (err instanceof ccxt.BaseError && WALLET_UNKNOWN.test(err.message)) {
    return new VenueError(
      "invalid_key",
      "Hyperliquid does not know this API wallet (never approved, removed or expired); create a new one at app.hyperliquid.xyz/API.",
    );
  }
  return mapHyperliquidError(err);
}

function num(value: unknown): number | null {
  const n = typeof value === "string" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) ? n : null;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** Mid (else mark) price from metaAndAssetCtxs, loaded fresh with the markets on every call. */
function referencePrice(market: Market): number {
  const info = record(market.info);
  const price = num(info.midPx) ?? num(info.markPx);
  if (price === null || price <= 0) {
    throw new VenueError("venue_error", `${VENUE} gave no price for ${market.symbol}.`, true);
  }
  return price;
}

function swapMarket(ex: Client, symbol: string): Market {
  const market = ex.market(symbol);
  if (!market.swap) throw new VenueError("unknown_symbol", `${VENUE} has no perpetual ${symbol}.`);
  return market;
}

function checkSize(size: number, what: string): void {
  if (!Number.isFinite(size) || size <= 0) {
    throw new VenueError("invalid_order", `${what} must be a positive number.`);
  }
}

/** Warden's client order id as a Hyperliquid cloid (a 128-bit hex string). */
const cloidOf = (id: string) => `0x${id}`;

const buy = (side: Side) => (side === "long" ? "buy" : "sell");
const sell = (side: Side) => (side === "long" ? "sell" : "buy");

/**
 * An IOC order's fill. Hyperliquid answers {"filled":{"totalSz","avgPx","oid"}} without the
 * coin, so ccxt's parsed order can miss fields; the raw answer fills them in. `side` is the
 * side of the position the fill belongs to (for a close, the side that was closed).
 */
function fillOf(order: CcxtOrder, symbol: string, side: Side): Fill {
  const filled = record(record(order.info).filled);
  const size = num(order.filled) || num(filled.totalSz);
  const price = num(order.average) || num(filled.avgPx);
  if (!size || !price) {
    throw new VenueError(
      "invalid_order",
      `${VENUE} did not fill the order (no liquidity within the 5 % slippage limit).`,
    );
  }
  return { orderId: String(order.id ?? filled.oid ?? ""), symbol, side, size, price };
}

export function createHyperliquidVenue(options: HyperliquidVenueOptions = {}): Venue {
  const { origin, timeoutMs = CCXT_BASE_OPTIONS.timeout, testnet = false } = options;
  const enableRateLimit = options.enableRateLimit ?? origin === undefined;
  let apiUrls: unknown;
  // Hyperliquid limits per address (its docs, "Rate limits and user limits": HTTP 429); the
  // master address is the key's identity here.
  const gate = createRateGate("Hyperliquid", Date.now, options.pauses);

  function client(auth?: { master: string; keyHex?: string }): Client {
    if (origin !== undefined && apiUrls === undefined) {
      apiUrls = rebaseUrls(
        new ccxt.hyperliquid().urls.api as Parameters<typeof rebaseUrls>[0],
        origin,
      );
    }
    const ex = new ccxt.hyperliquid({
      ...CCXT_BASE_OPTIONS,
      timeout: timeoutMs,
      // Hyperliquid's client-side limiter adds seconds; a local origin has no limits to respect.
      enableRateLimit,
      // refSet: never send setReferrer. approvedBuilderFee stays unset, so no builder the
      // master never approved is attached to an order.
      options: { fetchMarkets: { types: ["swap"] }, refSet: true, sandboxMode: testnet },
      ...(apiUrls === undefined ? {} : { urls: { api: apiUrls } }),
      ...(auth === undefined ? {} : { walletAddress: auth.master }),
      ...(auth?.keyHex === undefined ? {} : { privateKey: `0x${auth.keyHex}` }),
    });
    // ccxt would otherwise send an approveBuilderFee action before the first order, which an
    // agent cannot sign (VENUES.md): a refused request on every call. No option turns it off.
    (
      ex as unknown as { handleBuilderFeeApproval: () => Promise<boolean> }
    ).handleBuilderFeeApproval = async () => true;
    // ccxt copies an order's params into its TP/SL children, cloid included, so all three would
    // carry the entry's cloid; a cloid names one order of the account (Hyperliquid docs), and the
    // recorded request forms (test/fixtures/venues/hyperliquid-requests.json) have none on a
    // child. Only the entry carries Warden's client order id.
    const request = ex.createOrderRequest.bind(ex);
    ex.createOrderRequest = (symbol, type, side, amount, price, params = {}) => {
      const p = params as Record<string, unknown>;
      const child = p.stopLossPrice !== undefined || p.takeProfitPrice !== undefined;
      if (!child) return request(symbol, type, side, amount, price, params);
      const { clientOrderId: _dropped, ...rest } = p;
      return request(symbol, type, side, amount, price, rest);
    };
    return ex;
  }

  /** A signing client: the agent key becomes a string only here and dies with the client. */
  async function trading<T>(
    creds: VenueCredentials,
    fn: (ex: Client, master: string) => Promise<T>,
  ): Promise<T> {
    const master = masterOf(creds);
    const keyHex = agentKeyOf(creds);
    if (signerOf(keyHex) === master) {
      throw unsupported(
        "This is the Hyperliquid master account's own key; Warden trades only with an API wallet.",
      );
    }
    await gate.check(keyIdOf(master));
    let ex: Client | undefined;
    try {
      ex = client({ master, keyHex });
      await ex.loadMarkets();
      return await fn(ex, master);
    } catch (err) {
      throw (await gate.onError(keyIdOf(master), err, ex?.last_response_headers)) ?? mapError(err);
    }
  }

  /** Reads need only the master address; no key reaches ccxt, so nothing is signed. */
  async function reading<T>(creds: VenueCredentials, fn: (ex: Client) => Promise<T>): Promise<T> {
    const master = masterOf(creds);
    if (creds.privateKey === null || creds.privateKey.length === 0) {
      throw unsupported("Hyperliquid needs the private key of an API wallet.");
    }
    await gate.check(keyIdOf(master));
    let ex: Client | undefined;
    try {
      ex = client({ master });
      await ex.loadMarkets();
      return await fn(ex);
    } catch (err) {
      throw (await gate.onError(keyIdOf(master), err, ex?.last_response_headers)) ?? mapError(err);
    }
  }

  /**
   * Sets the key's margin mode (the user's setting) with the leverage before an entry: Hyperliquid
   * takes both in one updateLeverage action (isCross). Without a leverage asked, the coin's
   * current one is kept (activeAssetData), and nothing is sent when the mode already matches.
   */
  async function applyMarginMode(
    ex: Client,
    master: string,
    market: Market,
    mode: "cross" | "isolated",
    leverage: number | undefined,
  ): Promise<void> {
    if (leverage !== undefined) {
      if (!Number.isInteger(leverage) || leverage < 1) {
        throw new VenueError("invalid_order", "Hyperliquid leverage must be a whole number ≥ 1.");
      }
      await ex.setLeverage(leverage, market.symbol, { marginMode: mode });
      return;
    }
    // ccxt's baseId is the asset index; the coin's name is in the market's raw info.
    const coin = String(record(market.info).name ?? market.base);
    const active = record(await ex.publicPostInfo({ type: "activeAssetData", user: master, coin }));
    const current = record(active.leverage);
    if (current.type === mode) return;
    const value = num(current.value);
    if (value === null) {
      throw new VenueError(
        "venue_error",
        `${VENUE} did not report the leverage of ${market.symbol}, so its ${mode} margin could not be set; nothing was ordered.`,
      );
    }
    await ex.setLeverage(value, market.symbol, { marginMode: mode });
  }

  async function openPositionOf(
    ex: Client,
    symbol: string,
  ): Promise<{ side: Side; size: number } | null> {
    const [position] = await ex.fetchPositions([symbol]);
    const size = num(position?.contracts);
    if (!position || !size || (position.side !== "long" && position.side !== "short")) return null;
    return { side: position.side, size };
  }

  /**
   * The entry sent with Warden's cloid, by the info endpoint's orderStatus ("unknownOid" when
   * the venue never saw it). It gives the filled size, not the average price; for the entry of
   * a new position that is the position's entry price.
   */
  async function lookup(
    ex: Client,
    master: string,
    symbol: string,
    side: Side,
    clientOrderId: string,
  ): Promise<OrderLookup> {
    let answer: Record<string, unknown>;
    try {
      answer = record(
        await ex.publicPostInfo({ type: "orderStatus", user: master, oid: cloidOf(clientOrderId) }),
      );
    } catch (err) {
      if (err instanceof ccxt.OrderNotFound) return { status: "not_found" };
      throw err;
    }
    if (answer.status === "unknownOid") return { status: "not_found" };
    const wrapper = record(answer.order);
    const order = record(wrapper.order);
    const status = String(wrapper.status ?? "");
    if (status === "open" || status === "triggered") return { status: "pending" };
    const size = (num(order.origSz) ?? 0) - (num(order.sz) ?? 0);
    if (!(size > 0)) return { status: "cancelled" };
    const [position] = await ex.fetchPositions([symbol]);
    const price = num(position?.entryPrice);
    if (price === null) return { status: "cancelled" };
    return {
      status: "filled",
      fill: { orderId: String(order.oid ?? ""), symbol, side, size, price },
    };
  }

  /** Cancels resting reduce-only trigger orders (stop loss, take profit or both) on a symbol. */
  async function triggerIds(ex: Client, symbol: string, kind: "sl" | "tp" | "all") {
    const open = await ex.fetchOpenOrders(symbol);
    return open
      .filter((o) => {
        const info = record(o.info);
        if (o.symbol !== symbol || info.isTrigger !== true) return false;
        const type = String(info.orderType ?? "").toLowerCase();
        if (kind === "sl") return type.includes("stop");
        if (kind === "tp") return type.includes("take profit");
        return true;
      })
      .flatMap((o) => (o.id === undefined ? [] : [o.id]));
  }

  async function cancelTriggers(ex: Client, symbol: string, kind: "sl" | "tp" | "all") {
    const ids = await triggerIds(ex, symbol, kind);
    if (ids.length > 0) await ex.cancelOrders(ids, symbol);
  }

  /**
   * Replaces the position's stop loss or take profit. The new trigger is placed before the old
   * ones are cancelled, so a refused new price never leaves the position unprotected.
   */
  async function replaceTrigger(
    ex: Client,
    market: Market,
    position: { side: Side; size: number },
    leg: "stopLoss" | "takeProfit",
    price: number | null,
  ) {
    const old = await triggerIds(ex, market.symbol, leg === "stopLoss" ? "sl" : "tp");
    if (price !== null) await placePositionTrigger(ex, market, position, leg, price);
    if (old.length > 0) await ex.cancelOrders(old, market.symbol);
  }

  /** A whole-position trigger (grouping positionTpsl, size 0): it follows the position's size. */
  async function placePositionTrigger(
    ex: Client,
    market: Market,
    position: { side: Side; size: number },
    leg: "stopLoss" | "takeProfit",
    triggerPrice: number,
  ) {
    checkSize(triggerPrice, leg === "stopLoss" ? "The stop loss" : "The take profit");
    await ex.createOrder(
      market.symbol,
      "market",
      buy(position.side),
      position.size,
      referencePrice(market),
      { [leg]: { triggerPrice, type: "market" }, grouping: "positionTpsl" },
    );
  }

  async function close(ex: Client, market: Market): Promise<Fill | null> {
    const position = await openPositionOf(ex, market.symbol);
    if (position === null) return null;
    const order = await ex.createOrder(
      market.symbol,
      "market",
      sell(position.side),
      position.size,
      referencePrice(market),
      { reduceOnly: true },
    );
    const fill = fillOf(order, market.symbol, position.side);
    // Leftover reduce-only triggers could later close a new position on this symbol. The close
    // itself succeeded, so failing to tidy up must not turn it into an error.
    await cancelTriggers(ex, market.symbol, "all").catch(() => undefined);
    return fill;
  }

  return {
    id: "hyperliquid",

    async verifyScopes(creds: VenueCredentials): Promise<ScopeReport> {
      const master = masterOf(creds);
      const signer = signerOf(agentKeyOf(creds));
      try {
        const ex = client();
        const answer = record(await ex.publicPostInfo({ type: "userRole", user: signer }));
        const role = typeof answer.role === "string" ? answer.role : "missing";
        const data = record(answer.data);
        const roleMaster =
          role === "agent" && typeof data.user === "string" ? data.user.toLowerCase() : null;
        let validUntil: number | undefined;
        if (role === "agent" && roleMaster === master) {
          const agents = await ex.publicPostInfo({ type: "extraAgents", user: master });
          const mine = (Array.isArray(agents) ? agents : [])
            .map(record)
            .find((a) => typeof a.address === "string" && a.address.toLowerCase() === signer);
          validUntil = num(mine?.validUntil) ?? undefined;
        }
        return {
          venue: "hyperliquid",
          permissions: {
            signer,
            master,
            role,
            roleMaster,
            ...(validUntil === undefined ? {} : { validUntil }),
          },
          // An agent wallet works from any IP and cannot be bound to one.
          ipBound: false,
          expiresAt: validUntil === undefined ? null : new Date(validUntil),
          account: master,
        };
      } catch (err) {
        throw mapError(err);
      }
    },

    openPosition(creds, input: OpenPositionInput) {
      return trading(creds, async (ex, master) => {
        checkSize(input.size, "The position size");
        const market = swapMarket(ex, input.symbol);
        await applyMarginMode(ex, master, market, creds.marginMode ?? "cross", input.leverage);
        const params: Record<string, unknown> = {};
        // Attached as grouping normalTpsl: placed atomically with the entry, active once it fills.
        if (input.stopLoss !== undefined) {
          checkSize(input.stopLoss, "The stop loss");
          params.stopLoss = { triggerPrice: input.stopLoss, type: "market" };
        }
        if (input.takeProfit !== undefined) {
          checkSize(input.takeProfit, "The take profit");
          params.takeProfit = { triggerPrice: input.takeProfit, type: "market" };
        }
        if (input.clientOrderId !== undefined) params.clientOrderId = cloidOf(input.clientOrderId);
        let order: CcxtOrder;
        try {
          order = await ex.createOrder(
            market.symbol,
            "market",
            buy(input.side),
            input.size,
            referencePrice(market),
            params,
          );
        } catch (err) {
          // With grouping normalTpsl the entry can fill while a child is refused, and ccxt
          // throws on any error status (VENUES.md): ask the venue what became of the entry.
          const refused = err instanceof ccxt.NetworkError ? undefined : mapError(err);
          if (refused === undefined || input.clientOrderId === undefined) throw err;
          const entry = await lookup(ex, master, market.symbol, input.side, input.clientOrderId);
          if (entry.status !== "filled") throw err;
          return {
            ...entry.fill,
            protectionError: `${VENUE} opened the position but refused its stop loss / take profit: ${refused.message}`,
          };
        }
        return fillOf(order, market.symbol, input.side);
      });
    },

    findOrder(creds, input) {
      return trading(creds, (ex, master) =>
        lookup(ex, master, swapMarket(ex, input.symbol).symbol, input.side, input.clientOrderId),
      );
    },

    modifyPosition(creds, input: ModifyPositionInput) {
      return trading(creds, async (ex) => {
        const market = swapMarket(ex, input.symbol);
        const position = await openPositionOf(ex, market.symbol);
        if (position === null) {
          throw new VenueError(
            "invalid_order",
            `There is no open ${VENUE} position in ${market.symbol}.`,
          );
        }
        let fill: Fill | null = null;
        if (input.size !== undefined) {
          if (!Number.isFinite(input.size) || input.size < 0) {
            throw new VenueError("invalid_order", "The new position size must be zero or more.");
          }
          if (input.size === 0) return close(ex, market);
          // ccxt's Hyperliquid rounding misrounds negative amounts: round the size, then sign it.
          const raw = input.size - position.size;
          const delta = Math.sign(raw) * Number(ex.amountToPrecision(market.symbol, Math.abs(raw)));
          if (delta !== 0) {
            const grow = delta > 0;
            const order = await ex.createOrder(
              market.symbol,
              "market",
              grow ? buy(position.side) : sell(position.side),
              Math.abs(delta),
              referencePrice(market),
              grow ? {} : { reduceOnly: true },
            );
            fill = fillOf(order, market.symbol, position.side);
            position.size = Number(ex.amountToPrecision(market.symbol, position.size + delta));
          }
        }
        if (input.stopLoss !== undefined) {
          await replaceTrigger(ex, market, position, "stopLoss", input.stopLoss);
        }
        if (input.takeProfit !== undefined) {
          await replaceTrigger(ex, market, position, "takeProfit", input.takeProfit);
        }
        return fill;
      });
    },

    closePosition(creds, input) {
      return trading(creds, (ex) => close(ex, swapMarket(ex, input.symbol)));
    },

    positions(creds): Promise<Position[]> {
      return reading(creds, async (ex) => {
        const positions = await ex.fetchPositions();
        return positions.flatMap((p): Position[] => {
          const size = num(p.contracts);
          if (!size || !p.symbol || (p.side !== "long" && p.side !== "short")) return [];
          const notional = num(p.notional);
          return [
            {
              symbol: p.symbol,
              side: p.side,
              size,
              entryPrice: num(p.entryPrice) ?? 0,
              // clearinghouseState has no mark price; positionValue is size × mark.
              markPrice: notional === null ? null : Math.abs(notional) / size,
              unrealizedPnl: num(p.unrealizedPnl),
              leverage: num(p.leverage),
            },
          ];
        });
      });
    },

    balance(creds): Promise<Balance[]> {
      return reading(creds, async (ex) => {
        const balance = await ex.fetchBalance();
        const totals = record(balance.total);
        const free = record(balance.free);
        const used = record(balance.used);
        return Object.keys(totals).flatMap((currency): Balance[] => {
          const total = num(totals[currency]);
          if (total === null) return [];
          return [
            {
              currency,
              total,
              free: num(free[currency]) ?? total - (num(used[currency]) ?? 0),
            },
          ];
        });
      });
    },
  };
}
