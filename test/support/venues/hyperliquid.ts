// A local Hyperliquid for tests: POST /info and /exchange as ccxt's hyperliquid uses them. The
// signer of every signed action is recovered from its EIP-712 signature with ccxt's own hashing.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import ccxt from "ccxt";

/** A request as it arrived, body unparsed. */
export interface RecordedRequest {
  method: string;
  path: string;
  body: string;
}

interface Reply {
  status: number;
  body: unknown;
  /** Never answer: the action executed and its answer is lost. */
  hang?: boolean;
  raw?: string;
}

/** An entry order that carried a cloid, as orderStatus reports it. */
interface CloidOrder {
  coin: string;
  side: "B" | "A";
  origSz: number;
  filledSz: number;
  oid: number;
  timestamp: number;
}

/** Rounds and prints without exponent or trailing zeros, as Hyperliquid prints decimals. */
function dec(n: number, places: number): string {
  const fixed = (Math.round(n * 10 ** places) / 10 ** places).toFixed(places);
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") || "0" : fixed;
}

export type HyperliquidRole = "agent" | "user" | "vault" | "subAccount";

export interface FakeRole {
  role: HyperliquidRole;
  /** The approving account of an agent, the parent of a sub-account. */
  master?: string;
  /** Agents only: epoch ms after which the agent no longer signs (extraAgents' validUntil). */
  validUntil?: number;
  name?: string;
}

export interface FakeHyperliquidOptions {
  /** By lower-case address. Masters of listed agents count as users without being listed. */
  roles?: Record<string, FakeRole>;
  /** USDC cash per account (lower-case address); default 10 000. */
  balances?: Record<string, number>;
  /** Mark prices by coin; default BTC 63 000, ETH 3 000. */
  markPrices?: Record<string, number>;
  /**
   * Play the testnet: L1 actions must be signed with phantom-agent source "b" (mainnet "a"), as
   * Hyperliquid's signing docs and its Python SDK (`"a" if is_mainnet else "b"`) define.
   */
  testnet?: boolean;
}

/** A signed /exchange action with the signer recovered from its signature. */
export interface SignedAction {
  type: string;
  action: Record<string, unknown>;
  /** Lower-case address recovered from the signature (null if recovery failed). */
  signer: string | null;
  /** The account the action acted for, or null when it was refused. */
  actingFor: string | null;
  response: unknown;
}

export interface FakeHlPosition {
  coin: string;
  /** Signed: > 0 long, < 0 short. */
  szi: number;
  entryPx: number;
  leverage: number;
  isCross: boolean;
}

export interface FakeHlOrder {
  oid: number;
  coin: string;
  isBuy: boolean;
  sz: number;
  limitPx: number;
  reduceOnly: boolean;
  trigger: { triggerPx: number; tpsl: "tp" | "sl"; isMarket: boolean } | null;
  isPositionTpsl: boolean;
  tif: string | null;
  timestamp: number;
}

export interface FakeHyperliquid {
  url: string;
  requests: RecordedRequest[];
  /** Every signed /exchange action, in order. */
  actions: SignedAction[];
  /** Signed actions whose recovered signer is neither a user nor a live agent. */
  readonly signatureFailures: number;
  setRole(address: string, role: FakeRole | null): void;
  setMarkPrice(coin: string, price: number): void;
  setBalance(account: string, usdc: number): void;
  positions(account: string): FakeHlPosition[];
  openOrders(account: string): FakeHlOrder[];
  /** The next trigger order (stop loss / take profit) is refused, as the venue refuses a bad price. */
  rejectNextTrigger(): void;
  /** The next order action executes, then its answer is lost this way. */
  loseNextAnswer(kind: "timeout" | 502): void;
  /**
   * The next `count` requests are refused unexecuted with HTTP 429, as Hyperliquid answers a
   * client over its per-IP weight (1200 a minute; docs, "Rate limits and user limits").
   */
  limitNext(count?: number): void;
  /** The coin's leverage setting of an account, as updateLeverage left it. */
  leverageSetting(account: string, coin: string): { value: number; isCross: boolean };
  close(): Promise<void>;
}

const UNIVERSE = [
  { name: "BTC", szDecimals: 5, maxLeverage: 40 },
  { name: "ETH", szDecimals: 4, maxLeverage: 25 },
] as const;
const DEFAULT_LEVERAGE = 20;
const MIN_ORDER_VALUE = 10;
const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

// The phantom-agent domain of L1 actions and the user-signed domain, as Hyperliquid defines them.
const L1_DOMAIN = {
  chainId: 1337,
  name: "Exchange",
  verifyingContract: ZERO_ADDRESS,
  version: "1",
};
const AGENT_TYPES = {
  Agent: [
    { name: "source", type: "string" },
    { name: "connectionId", type: "bytes32" },
  ],
};
const USER_SIGNED_TYPES: Record<string, Array<{ name: string; type: string }>> = {
  approveBuilderFee: [
    { name: "hyperliquidChain", type: "string" },
    { name: "maxFeeRate", type: "string" },
    { name: "builder", type: "address" },
    { name: "nonce", type: "uint64" },
  ],
  approveAgent: [
    { name: "hyperliquidChain", type: "string" },
    { name: "agentAddress", type: "address" },
    { name: "agentName", type: "string" },
    { name: "nonce", type: "uint64" },
  ],
  withdraw3: [
    { name: "hyperliquidChain", type: "string" },
    { name: "destination", type: "string" },
    { name: "amount", type: "string" },
    { name: "time", type: "uint64" },
  ],
};
const USER_SIGNED_NAMES: Record<string, string> = {
  approveBuilderFee: "HyperliquidTransaction:ApproveBuilderFee",
  approveAgent: "HyperliquidTransaction:ApproveAgent",
  withdraw3: "HyperliquidTransaction:Withdraw",
};

interface Account {
  cash: number;
  positions: Map<string, FakeHlPosition>;
  orders: FakeHlOrder[];
  leverage: Map<string, { value: number; isCross: boolean }>;
  /** Executed entry orders by cloid (lower-case). */
  cloids: Map<string, CloidOrder>;
}

type Json = Record<string, unknown>;

function obj(value: unknown): Json {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Json)
    : {};
}

function addressOfPublicKey(uncompressed: Uint8Array): string {
  return `0x${Buffer.from(keccak_256(uncompressed.subarray(1)).subarray(-20)).toString("hex")}`;
}

/** r and s are parsed as numbers: ccxt sometimes drops their leading zeros. */
function recoverSigner(digest: Uint8Array, signature: unknown): string | null {
  try {
    const sig = obj(signature);
    const v = Number(sig.v);
    const recovery = v >= 27 ? v - 27 : v;
    const point = new secp256k1.Signature(
      BigInt(String(sig.r)),
      BigInt(String(sig.s)),
      recovery,
    ).recoverPublicKey(digest);
    return addressOfPublicKey(point.toBytes(false));
  } catch {
    return null;
  }
}

export async function startFakeHyperliquid(
  opts: FakeHyperliquidOptions = {},
): Promise<FakeHyperliquid> {
  const roles = new Map<string, FakeRole>(
    Object.entries(opts.roles ?? {}).map(([a, r]) => [a.toLowerCase(), r]),
  );
  const balances = new Map(
    Object.entries(opts.balances ?? {}).map(([a, b]) => [a.toLowerCase(), b] as const),
  );
  const marks = new Map<string, number>([
    ["BTC", 63_000],
    ["ETH", 3_000],
    ...Object.entries(opts.markPrices ?? {}),
  ]);
  const accounts = new Map<string, Account>();
  const requests: RecordedRequest[] = [];
  const actions: SignedAction[] = [];
  let signatureFailures = 0;
  let nextOid = 1000;
  let rejectTrigger = false;
  const lostAnswers: Array<"timeout" | 502> = [];
  let limited = 0;
  // ccxt's own msgpack action hash and EIP-712 encoder, so the fake hashes exactly what it signs.
  const hasher = new ccxt.hyperliquid();

  function account(address: string): Account {
    const key = address.toLowerCase();
    let a = accounts.get(key);
    if (a === undefined) {
      a = {
        cash: balances.get(key) ?? 10_000,
        positions: new Map(),
        orders: [],
        leverage: new Map(),
        cloids: new Map(),
      };
      accounts.set(key, a);
    }
    return a;
  }

  function isUser(address: string): boolean {
    if (roles.get(address)?.role === "user") return true;
    for (const r of roles.values())
      if (r.role === "agent" && r.master?.toLowerCase() === address) return true;
    return false;
  }

  /** The account a signer acts for: itself when it is a user, its master when a live agent. */
  function actingFor(signer: string | null): string | null {
    if (signer === null) return null;
    const role = roles.get(signer);
    if (role?.role === "agent" && role.master !== undefined) {
      if (role.validUntil !== undefined && role.validUntil <= Date.now()) return null;
      return role.master.toLowerCase();
    }
    return isUser(signer) ? signer : null;
  }

  function mark(coin: string): number {
    return marks.get(coin) ?? 0;
  }

  function leverageOf(a: Account, coin: string) {
    const max = UNIVERSE.find((u) => u.name === coin)?.maxLeverage ?? DEFAULT_LEVERAGE;
    return a.leverage.get(coin) ?? { value: Math.min(DEFAULT_LEVERAGE, max), isCross: true };
  }

  function summary(a: Account) {
    let upnl = 0;
    let ntl = 0;
    let marginUsed = 0;
    const assetPositions = [...a.positions.values()].map((p) => {
      const px = mark(p.coin);
      const value = Math.abs(p.szi) * px;
      const pnl = (px - p.entryPx) * p.szi;
      const margin = value / p.leverage;
      upnl += pnl;
      ntl += value;
      marginUsed += margin;
      return {
        type: "oneWay",
        position: {
          coin: p.coin,
          szi: dec(p.szi, 6),
          entryPx: dec(p.entryPx, 6),
          positionValue: dec(value, 6),
          unrealizedPnl: dec(pnl, 6),
          returnOnEquity: dec(margin === 0 ? 0 : pnl / margin, 6),
          liquidationPx: null,
          marginUsed: dec(margin, 6),
          maxLeverage: UNIVERSE.find((u) => u.name === p.coin)?.maxLeverage ?? DEFAULT_LEVERAGE,
          leverage: { type: p.isCross ? "cross" : "isolated", value: p.leverage },
          cumFunding: { allTime: "0.0", sinceOpen: "0.0", sinceChange: "0.0" },
        },
      };
    });
    const accountValue = a.cash + upnl;
    return { assetPositions, accountValue, ntl, marginUsed };
  }

  function clearinghouseState(user: string) {
    const s = summary(account(user));
    const margin = {
      accountValue: dec(s.accountValue, 6),
      totalNtlPos: dec(s.ntl, 6),
      totalRawUsd: dec(account(user).cash, 6),
      totalMarginUsed: dec(s.marginUsed, 6),
    };
    return {
      assetPositions: s.assetPositions,
      marginSummary: margin,
      crossMarginSummary: margin,
      crossMaintenanceMarginUsed: dec(s.marginUsed / 2, 6),
      withdrawable: dec(Math.max(0, s.accountValue - s.marginUsed), 6),
      time: Date.now(),
    };
  }

  function frontendOrder(o: FakeHlOrder) {
    const type = o.trigger
      ? `${o.trigger.tpsl === "sl" ? "Stop" : "Take Profit"} ${o.trigger.isMarket ? "Market" : "Limit"}`
      : "Limit";
    return {
      coin: o.coin,
      side: o.isBuy ? "B" : "A",
      limitPx: dec(o.limitPx, 6),
      sz: dec(o.sz, 6),
      origSz: dec(o.sz, 6),
      oid: o.oid,
      timestamp: o.timestamp,
      isTrigger: o.trigger !== null,
      triggerPx: o.trigger ? dec(o.trigger.triggerPx, 6) : "0.0",
      triggerCondition: o.trigger
        ? `Price ${(o.trigger.tpsl === "sl") === o.isBuy ? "above" : "below"} ${o.trigger.triggerPx}`
        : "N/A",
      children: [],
      isPositionTpsl: o.isPositionTpsl,
      reduceOnly: o.reduceOnly,
      orderType: type,
      tif: o.tif,
      cloid: null,
    };
  }

  function info(body: Json): Reply {
    const user = typeof body.user === "string" ? body.user.toLowerCase() : "";
    switch (body.type) {
      case "orderStatus": {
        // Info endpoint "Query order status by oid or cloid": {"status":"unknownOid"} when the
        // venue never saw it.
        const user = String(body.user ?? "").toLowerCase();
        const o = account(user).cloids.get(String(body.oid ?? "").toLowerCase());
        if (o === undefined) return { status: 200, body: { status: "unknownOid" } };
        return {
          status: 200,
          body: {
            status: "order",
            order: {
              order: {
                coin: o.coin,
                side: o.side,
                limitPx: "0",
                sz: dec(o.origSz - o.filledSz, 6),
                oid: o.oid,
                timestamp: o.timestamp,
                triggerCondition: "N/A",
                isTrigger: false,
                triggerPx: "0.0",
                children: [],
                isPositionTpsl: false,
                reduceOnly: false,
                orderType: "Market",
                origSz: dec(o.origSz, 6),
                tif: "Ioc",
                cloid: String(body.oid),
              },
              status: o.filledSz > 0 ? "filled" : "canceled",
              statusTimestamp: o.timestamp,
            },
          },
        };
      }
      case "activeAssetData": {
        // Hyperliquid docs, Info endpoint → Perpetuals, "Retrieve User's active asset data".
        const coin = String(body.coin ?? "");
        const meta = UNIVERSE.find((u) => u.name === coin);
        if (meta === undefined) return { status: 500, body: null, raw: "null" };
        const lev = leverageOf(account(user), coin);
        const px = mark(coin);
        const free = Math.max(0, summary(account(user)).accountValue) * lev.value;
        return {
          status: 200,
          body: {
            user,
            coin,
            leverage: { type: lev.isCross ? "cross" : "isolated", value: lev.value },
            maxTradeSzs: [dec(free / px, meta.szDecimals), dec(free / px, meta.szDecimals)],
            availableToTrade: [dec(free, 2), dec(free, 2)],
            markPx: dec(px, 6),
          },
        };
      }
      case "userRole": {
        const r = roles.get(user);
        if (r === undefined)
          return { status: 200, body: { role: isUser(user) ? "user" : "missing" } };
        if (r.role === "agent")
          return { status: 200, body: { role: "agent", data: { user: r.master } } };
        if (r.role === "subAccount") {
          return { status: 200, body: { role: "subAccount", data: { master: r.master } } };
        }
        return { status: 200, body: { role: r.role } };
      }
      case "extraAgents":
        return {
          status: 200,
          body: [...roles.entries()]
            .filter(([, r]) => r.role === "agent" && r.master?.toLowerCase() === user)
            .map(([address, r]) => ({
              name: r.name ?? "warden",
              address,
              ...(r.validUntil === undefined ? {} : { validUntil: r.validUntil }),
            })),
        };
      case "spotMeta":
        return {
          status: 200,
          body: {
            universe: [],
            tokens: [
              {
                name: "USDC",
                szDecimals: 8,
                weiDecimals: 8,
                index: 0,
                tokenId: "0x6d1e7cde53ba9467b783cb7c530ce054",
                isCanonical: true,
                evmContract: null,
                fullName: null,
              },
            ],
          },
        };
      case "metaAndAssetCtxs":
        return {
          status: 200,
          body: [
            { universe: UNIVERSE },
            UNIVERSE.map((u) => {
              const px = String(mark(u.name));
              return {
                dayNtlVlm: "1000000.0",
                funding: "0.0000125",
                impactPxs: [px, px],
                markPx: px,
                midPx: px,
                openInterest: "1000.0",
                oraclePx: px,
                premium: "0.0",
                prevDayPx: px,
              };
            }),
          ],
        };
      case "userAbstraction":
        return { status: 200, body: "default" };
      case "clearinghouseState":
        return { status: 200, body: clearinghouseState(user) };
      case "frontendOpenOrders":
      case "openOrders":
        return { status: 200, body: account(user).orders.map(frontendOrder) };
      default:
        return { status: 422, body: "Failed to deserialize the JSON body into the target type" };
    }
  }

  function err(response: string): Json {
    return { status: "err", response };
  }

  function fill(a: Account, asset: number, o: Json, grouped: boolean): unknown {
    const coin = UNIVERSE[asset]?.name;
    if (coin === undefined) return { error: `Invalid asset. asset=${asset}` };
    const isBuy = o.b === true;
    let size = Number(o.s);
    const limitPx = Number(o.p);
    const reduceOnly = o.r === true;
    const t = obj(o.t);
    const trigger = obj(t.trigger);
    if (t.trigger !== undefined) {
      if (rejectTrigger) {
        rejectTrigger = false;
        return { error: "Invalid TP/SL price." };
      }
      const order: FakeHlOrder = {
        oid: nextOid++,
        coin,
        isBuy,
        sz: size,
        limitPx,
        reduceOnly,
        trigger: {
          triggerPx: Number(trigger.triggerPx),
          tpsl: trigger.tpsl === "tp" ? "tp" : "sl",
          isMarket: trigger.isMarket === true,
        },
        isPositionTpsl: false,
        tif: null,
        timestamp: Date.now(),
      };
      a.orders.push(order);
      return grouped ? "waitingForTrigger" : { resting: { oid: order.oid } };
    }
    const tif = String(obj(t.limit).tif ?? "Gtc");
    const px = mark(coin);
    const position = a.positions.get(coin);
    const szi = position?.szi ?? 0;
    if (!(size > 0)) return { error: `Order has zero size. asset=${asset}` };
    if (reduceOnly) {
      if (szi === 0 || (isBuy ? szi > 0 : szi < 0)) {
        return { error: `Reduce only order would increase position. asset=${asset}` };
      }
      size = Math.min(size, Math.abs(szi));
    }
    const crosses = isBuy ? limitPx >= px : limitPx <= px;
    if (!crosses) {
      if (tif === "Ioc") {
        return {
          error: `Order could not immediately match against any resting orders. asset=${asset}`,
        };
      }
      const order: FakeHlOrder = {
        oid: nextOid++,
        coin,
        isBuy,
        sz: size,
        limitPx,
        reduceOnly,
        trigger: null,
        isPositionTpsl: false,
        tif,
        timestamp: Date.now(),
      };
      a.orders.push(order);
      return { resting: { oid: order.oid } };
    }
    if (!reduceOnly && size * px < MIN_ORDER_VALUE) {
      return { error: `Order must have minimum value of $10. asset=${asset}` };
    }
    const decimals = UNIVERSE[asset]?.szDecimals ?? 6;
    const round = (n: number) => Number(n.toFixed(decimals));
    const signed = isBuy ? size : -size;
    const newSzi = round(szi + signed);
    const lev = leverageOf(a, coin);
    if (Math.abs(newSzi) > Math.abs(szi)) {
      const s = summary(a);
      const thisMargin = position ? (Math.abs(szi) * px) / position.leverage : 0;
      const after = s.marginUsed - thisMargin + (Math.abs(newSzi) * px) / lev.value;
      if (after > s.accountValue) {
        return { error: `Insufficient margin to place order. asset=${asset}` };
      }
    }
    if (szi === 0 || Math.sign(szi) === Math.sign(signed)) {
      const entryPx = position
        ? (Math.abs(szi) * position.entryPx + size * px) / Math.abs(newSzi)
        : px;
      a.positions.set(coin, {
        coin,
        szi: newSzi,
        entryPx,
        leverage: lev.value,
        isCross: lev.isCross,
      });
    } else {
      const closed = Math.min(Math.abs(szi), size);
      a.cash += closed * (px - (position?.entryPx ?? px)) * Math.sign(szi);
      if (newSzi === 0) {
        a.positions.delete(coin);
        // Hyperliquid cancels whole-position TP/SL orders when their position closes.
        a.orders = a.orders.filter((x) => !(x.coin === coin && x.isPositionTpsl));
      } else if (Math.sign(newSzi) === Math.sign(szi)) {
        a.positions.set(coin, { ...(position as FakeHlPosition), szi: newSzi });
      } else {
        a.positions.set(coin, {
          coin,
          szi: newSzi,
          entryPx: px,
          leverage: lev.value,
          isCross: lev.isCross,
        });
      }
    }
    return { filled: { totalSz: dec(size, decimals), avgPx: dec(px, 6), oid: nextOid++ } };
  }

  function l1(actor: string, action: Json): Json {
    const a = account(actor);
    switch (action.type) {
      case "order": {
        const grouping = String(action.grouping ?? "na");
        const orders = Array.isArray(action.orders) ? action.orders.map(obj) : [];
        const statuses: unknown[] = [];
        let parentFailed = false;
        for (const o of orders) {
          const isChild = obj(o.t).trigger !== undefined && grouping !== "na";
          if (isChild && parentFailed) {
            statuses.push({ error: "Parent order was not filled." });
            continue;
          }
          const before = a.orders.length;
          const cloid = typeof o.c === "string" ? o.c.toLowerCase() : undefined;
          if (cloid !== undefined && a.cloids.has(cloid)) {
            statuses.push({ error: "Duplicate cloid." });
            parentFailed = !isChild;
            continue;
          }
          const status = fill(a, Number(o.a), o, grouping !== "na");
          if (cloid !== undefined) {
            const filled = obj(obj(status).filled);
            a.cloids.set(cloid, {
              coin: UNIVERSE[Number(o.a)]?.name ?? "",
              side: o.b === true ? "B" : "A",
              origSz: Number(o.s),
              filledSz: Number(filled.totalSz ?? 0),
              oid: Number(filled.oid ?? nextOid++),
              timestamp: Date.now(),
            });
          }
          if (grouping === "positionTpsl" && a.orders.length > before) {
            (a.orders[a.orders.length - 1] as FakeHlOrder).isPositionTpsl = true;
          }
          if (!isChild && typeof status === "object" && status !== null && "error" in status) {
            parentFailed = true;
          }
          statuses.push(status);
        }
        return { status: "ok", response: { type: "order", data: { statuses } } };
      }
      case "cancel": {
        const cancels = Array.isArray(action.cancels) ? action.cancels.map(obj) : [];
        const statuses = cancels.map((c) => {
          const coin = UNIVERSE[Number(c.a)]?.name;
          const i = a.orders.findIndex((o) => o.oid === Number(c.o) && o.coin === coin);
          if (i === -1) {
            return { error: `Order was never placed, already canceled, or filled. asset=${c.a}` };
          }
          a.orders.splice(i, 1);
          return "success";
        });
        return { status: "ok", response: { type: "cancel", data: { statuses } } };
      }
      case "updateLeverage": {
        const meta = UNIVERSE[Number(action.asset)];
        const leverage = Number(action.leverage);
        if (meta === undefined) return err("Invalid asset.");
        if (!Number.isInteger(leverage) || leverage < 1 || leverage > meta.maxLeverage) {
          return err("Invalid leverage value");
        }
        const isCross = action.isCross === true;
        a.leverage.set(meta.name, { value: leverage, isCross });
        const p = a.positions.get(meta.name);
        if (p) a.positions.set(meta.name, { ...p, leverage, isCross });
        return { status: "ok", response: { type: "default" } };
      }
      case "setReferrer":
        return { status: "ok", response: { type: "default" } };
      default:
        return err(`The fake Hyperliquid does not implement ${String(action.type)}.`);
    }
  }

  function exchange(body: Json): Reply {
    const action = obj(body.action);
    const type = String(action.type ?? "");
    const nonce = Number(body.nonce);
    let signer: string | null;
    const userSigned = USER_SIGNED_TYPES[type];
    if (typeof action.signatureChainId === "string" && userSigned !== undefined) {
      const domain = {
        chainId: Number.parseInt(action.signatureChainId, 16),
        name: "HyperliquidSignTransaction",
        verifyingContract: ZERO_ADDRESS,
        version: "1",
      };
      const message = Object.fromEntries(userSigned.map((f) => [f.name, action[f.name]]));
      const types = { [USER_SIGNED_NAMES[type] as string]: userSigned };
      signer = recoverSigner(
        keccak_256(hasher.ethEncodeStructuredData(domain, types, message)),
        body.signature,
      );
    } else {
      const vault =
        typeof body.vaultAddress === "string" ? body.vaultAddress.replace(/^0x/, "") : undefined;
      const expiresAfter = typeof body.expiresAfter === "number" ? body.expiresAfter : undefined;
      const hash = hasher.actionHash(action, vault, nonce, expiresAfter);
      const phantom = hasher.constructPhantomAgent(hash, opts.testnet === true);
      const digest = keccak_256(hasher.ethEncodeStructuredData(L1_DOMAIN, AGENT_TYPES, phantom));
      signer = recoverSigner(digest, body.signature);
    }
    const actor = actingFor(signer);
    let response: Json;
    if (actor === null) {
      signatureFailures++;
      response = err(`User or API Wallet ${signer ?? ZERO_ADDRESS} does not exist.`);
    } else if (body.vaultAddress !== undefined && body.vaultAddress !== null) {
      response = err("The fake Hyperliquid does not trade for vaults.");
    } else if (userSigned !== undefined) {
      // User-signed actions (builder fees, agents, withdrawals) need the account's own key.
      response =
        actor === signer
          ? { status: "ok", response: { type: "default" } }
          : err(`${type} must be signed by the account owner, not an API wallet.`);
    } else {
      response = l1(actor, action);
    }
    actions.push({ type, action, signer, actingFor: actor, response });
    const lost = type === "order" && actor !== null ? lostAnswers.shift() : undefined;
    if (lost === "timeout") return { status: 0, body: null, hang: true };
    if (lost === 502)
      return { status: 502, body: null, raw: "<html><h1>502 Bad Gateway</h1></html>" };
    return { status: 200, body: response };
  }

  function handle(req: RecordedRequest): Reply {
    if (limited > 0) {
      // Refused before anything runs; Hyperliquid documents no Retry-After for it.
      limited--;
      return { status: 429, body: null, raw: "" };
    }
    if (req.method !== "POST") return { status: 405, body: "Method Not Allowed" };
    let body: Json;
    try {
      body = obj(JSON.parse(req.body));
    } catch {
      return { status: 422, body: "Failed to deserialize the JSON body into the target type" };
    }
    if (req.path === "/info") return info(body);
    if (req.path === "/exchange") return exchange(body);
    return { status: 404, body: "Not Found" };
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const recorded: RecordedRequest = {
        method: req.method ?? "",
        path: (req.url ?? "/").split("?")[0] ?? "/",
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(recorded);
      let reply: Reply;
      try {
        reply = handle(recorded);
      } catch (e) {
        reply = { status: 500, body: { error: (e as Error).message } };
      }
      if (reply.hang) return;
      res.writeHead(reply.status, { "Content-Type": "application/json" });
      res.end(reply.raw ?? JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    actions,
    get signatureFailures() {
      return signatureFailures;
    },
    setRole(address, role) {
      if (role === null) roles.delete(address.toLowerCase());
      else roles.set(address.toLowerCase(), role);
    },
    setMarkPrice(coin, price) {
      marks.set(coin, price);
    },
    setBalance(address, usdc) {
      balances.set(address.toLowerCase(), usdc);
      account(address).cash = usdc;
    },
    positions(address) {
      return [...account(address).positions.values()].map((p) => ({ ...p }));
    },
    rejectNextTrigger() {
      rejectTrigger = true;
    },
    loseNextAnswer(kind) {
      lostAnswers.push(kind);
    },
    limitNext(count = 1) {
      limited += count;
    },
    leverageSetting(address, coin) {
      return { ...leverageOf(account(address), coin) };
    },
    openOrders(address) {
      return account(address).orders.map((o) => ({ ...o }));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
