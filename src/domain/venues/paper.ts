// The paper venue: a simulated futures account that fills at a deterministic price feed, so a
// new user can try every flow without an exchange. The account is the credential's public
// wallet address (`paper-…`); nothing secret is involved.
import {
  type Balance,
  type Fill,
  type ModifyPositionInput,
  type OpenPositionInput,
  type OrderLookup,
  type Position,
  type Side,
  type Venue,
  type VenueCredentials,
  VenueError,
} from "./types";

export interface PaperPosition {
  symbol: string;
  side: Side;
  size: number;
  entryPrice: number;
  leverage: number;
  stopLoss: number | null;
  takeProfit: number | null;
}

/**
 * Storage of paper accounts (PostgreSQL in src/infra, so every process sees the same book).
 * Opening and closing are single atomic steps, so two concurrent orders on one account can
 * neither lose a fill nor realise the same position twice.
 */
export interface PaperStore {
  ensureAccount(account: string, initialBalance: number): Promise<void>;
  balance(account: string): Promise<number>;
  position(account: string, symbol: string): Promise<PaperPosition | null>;
  positions(account: string): Promise<PaperPosition[]>;
  /**
   * Creates the account if new, then adds `fill` to the position in that symbol: a new position,
   * or the same side grown with a size-weighted entry price (rounded to 8 places), with stop-loss
   * and take-profit kept unless given. Returns null, changing nothing, when the account holds the
   * other side.
   */
  addToPosition(
    account: string,
    initialBalance: number,
    fill: Omit<PaperPosition, "entryPrice"> & { price: number } & PriceSource,
    /** Kept with the fill, in the same step, so the order can be found by its client id. */
    order?: { clientOrderId: string; orderId: string },
  ): Promise<(PaperPosition & { fillPrice: number }) | null>;
  /** The order sent with `clientOrderId`, as `addToPosition` kept it; null if none was. */
  findOrder(
    account: string,
    clientOrderId: string,
  ): Promise<{ orderId: string; symbol: string; side: Side; size: number; price: number } | null>;
  savePosition(account: string, position: PaperPosition): Promise<void>;
  /**
   * Removes the position, credits its realised profit or loss at `price` to the balance (never
   * below zero) and records the close with `reason`, in one step; returns the position removed,
   * or null if there was none.
   */
  closePosition(
    account: string,
    symbol: string,
    price: number,
    reason?: PaperCloseReason,
    source?: PriceSource,
  ): Promise<(PaperPosition & { fillPrice: number }) | null>;
  /** The latest recorded close of (account, symbol) at or after `since`. */
  lastClose(account: string, symbol: string, since: Date): Promise<PaperClose | null>;
  /** Every open position of every account (the trigger job's scan). */
  allPositions(): Promise<Array<PaperPosition & { account: string }>>;
  /** The development/test price override of a symbol, if any. */
  priceOverride(symbol: string): Promise<number | null>;
  /** Adds realised profit or loss; the balance never goes below zero. */
  adjustBalance(account: string, delta: number): Promise<void>;
}

/**
 * `overridable`: the price given is the feed's, and the symbol's development/test override
 * (`priceOverride`), read in the same step, takes its place: one round trip instead of two.
 */
export interface PriceSource {
  overridable?: boolean;
}

export type PaperCloseReason = "manual" | "stop_loss" | "take_profit" | "liquidation";

export interface PaperClose {
  side: Side;
  size: number;
  entryPrice: number;
  price: number;
  reason: PaperCloseReason;
  at: Date;
}

/**
 * A live price for a paper symbol (a venue's public ticker), or null when none can be had right
 * now: the deterministic feed stands in.
 */
export type PaperPriceFeed = (symbol: string) => Promise<number | null>;

/** The paper price of `symbol`: the override, else the live feed, else the deterministic one. */
export async function currentPaperPrice(
  store: Pick<PaperStore, "priceOverride">,
  symbol: string,
  nowMs: number,
  live?: PaperPriceFeed,
): Promise<number> {
  return (await store.priceOverride(symbol)) ?? (await live?.(symbol)) ?? paperPrice(symbol, nowMs);
}

export const PAPER_INITIAL_BALANCE = 10_000;
export const PAPER_CURRENCY = "USDT";

const BASE_PRICES: Record<string, number> = {
  BTC: 60_000,
  ETH: 3_000,
  SOL: 150,
  BNB: 550,
  XRP: 0.6,
  DOGE: 0.15,
};

/** Lot step, maximum size and leverage bracket per coin (the paper venue's own rules). */
const RULES: Record<string, { lotStep: number; maxSize: number; maxLeverage: number }> = {
  BTC: { lotStep: 0.001, maxSize: 100, maxLeverage: 100 },
  ETH: { lotStep: 0.01, maxSize: 2_000, maxLeverage: 100 },
  SOL: { lotStep: 0.1, maxSize: 50_000, maxLeverage: 50 },
  BNB: { lotStep: 0.01, maxSize: 10_000, maxLeverage: 50 },
  XRP: { lotStep: 1, maxSize: 5_000_000, maxLeverage: 50 },
  DOGE: { lotStep: 1, maxSize: 50_000_000, maxLeverage: 50 },
};
export const PAPER_MIN_NOTIONAL = 5;
/** The paper venue charges no fees; maintenance margin as on the venues' first bracket. */
export const PAPER_MAINTENANCE_MARGIN_RATE = 0.005;

/** "BTC/USDT:USDT", "BTCUSDT", "btc" → "BTC/USDT:USDT"; unknown coins → unknown_symbol. */
export function paperSymbol(input: string): string {
  const base = input.toUpperCase().split(/[/:]/)[0]!.replace(/USDT$/, "");
  if (!(base in BASE_PRICES)) {
    throw new VenueError("unknown_symbol", `The paper venue does not list ${input.slice(0, 20)}.`);
  }
  return `${base}/USDT:USDT`;
}

/** A deterministic price: the base price moving ±1 % over each hour, to the cent. */
export function paperPrice(symbol: string, nowMs: number): number {
  const base = BASE_PRICES[paperSymbol(symbol).split("/")[0]!]!;
  const phase = ((nowMs / 60_000) % 60) / 60;
  return Math.round(base * (1 + 0.01 * Math.sin(2 * Math.PI * phase)) * 100) / 100;
}

const round8 = (n: number) => Math.round(n * 1e8) / 1e8;

export function createPaperVenue(deps: {
  store: PaperStore;
  /** Live prices (production: the venues' public tickers); without it, the deterministic feed. */
  livePrice?: PaperPriceFeed;
  now?: () => number;
  nextId?: () => string;
}): Venue {
  const now = deps.now ?? Date.now;
  let counter = 0;
  const nextId = deps.nextId ?? (() => `paper-${now()}-${++counter}`);

  /** The paper account of `creds`; `ensure` creates it (with the starting balance) if new. */
  const accountOf = async (creds: VenueCredentials, ensure = false): Promise<string> => {
    const account = creds.walletAddress;
    if (!account || !/^paper-[0-9a-f]{8,32}$/.test(account)) {
      throw new VenueError("unsupported_credentials", "This is not a paper account.");
    }
    if (ensure) await deps.store.ensureAccount(account, PAPER_INITIAL_BALANCE);
    return account;
  };

  /** The override set with `paper price` (development, tests), else live, else deterministic. */
  const priceOf = (symbol: string) => currentPaperPrice(deps.store, symbol, now(), deps.livePrice);
  /**
   * The price an order fills at, as `priceOf`. Without a live feed the deterministic price goes
   * to the store as overridable, which reads the override in the order's own statement.
   */
  const orderPrice = async (symbol: string): Promise<{ price: number; overridable: boolean }> =>
    deps.livePrice === undefined
      ? { price: paperPrice(symbol, now()), overridable: true }
      : { price: await priceOf(symbol), overridable: false };

  const pnl = (p: PaperPosition, price: number, size: number) =>
    (price - p.entryPrice) * size * (p.side === "long" ? 1 : -1);

  const positive = (n: number | undefined, what: string) => {
    if (n !== undefined && (!Number.isFinite(n) || n <= 0)) {
      throw new VenueError("invalid_order", `${what} must be a positive number.`);
    }
  };

  const venue: Venue = {
    id: "paper",
    async verifyScopes(creds) {
      const account = await accountOf(creds, true);
      return {
        venue: "paper",
        permissions: { trade: true, read: true },
        ipBound: true,
        expiresAt: null,
        account,
      };
    },

    async openPosition(creds, input: OpenPositionInput): Promise<Fill> {
      const account = await accountOf(creds);
      const symbol = paperSymbol(input.symbol);
      positive(input.size, "Size");
      positive(input.stopLoss, "Stop-loss");
      positive(input.takeProfit, "Take-profit");
      const leverage = input.leverage ?? 1;
      if (!Number.isInteger(leverage) || leverage < 1 || leverage > 125) {
        throw new VenueError("invalid_order", "Leverage must be a whole number from 1 to 125.");
      }
      const { price, overridable } = await orderPrice(symbol);
      const orderId = nextId();
      const held = await deps.store.addToPosition(
        account,
        PAPER_INITIAL_BALANCE,
        {
          symbol,
          side: input.side,
          size: input.size,
          price,
          overridable,
          leverage,
          stopLoss: input.stopLoss ?? null,
          takeProfit: input.takeProfit ?? null,
        },
        input.clientOrderId === undefined
          ? undefined
          : { clientOrderId: input.clientOrderId, orderId },
      );
      if (!held) {
        const other = input.side === "long" ? "short" : "long";
        throw new VenueError(
          "invalid_order",
          `You hold a ${other} ${symbol} position; close it first.`,
        );
      }
      return { orderId, symbol, side: input.side, size: input.size, price: held.fillPrice };
    },

    async findOrder(creds, input): Promise<OrderLookup> {
      const account = await accountOf(creds);
      const o = await deps.store.findOrder(account, input.clientOrderId);
      // A paper order fills at once or is refused before it is kept: never pending.
      return o === null ? { status: "not_found" } : { status: "filled", fill: o };
    },

    async modifyPosition(creds, input: ModifyPositionInput) {
      const account = await accountOf(creds);
      const symbol = paperSymbol(input.symbol);
      const p = await deps.store.position(account, symbol);
      if (!p) throw new VenueError("invalid_order", `No open ${symbol} position.`);
      positive(input.size, "Size");
      positive(input.stopLoss ?? undefined, "Stop-loss");
      positive(input.takeProfit ?? undefined, "Take-profit");
      const next: PaperPosition = {
        ...p,
        stopLoss: input.stopLoss === undefined ? p.stopLoss : input.stopLoss,
        takeProfit: input.takeProfit === undefined ? p.takeProfit : input.takeProfit,
      };
      let fill: Fill | null = null;
      if (input.size !== undefined && input.size !== p.size) {
        const price = await priceOf(symbol);
        const delta = round8(input.size - p.size);
        if (delta < 0) {
          await deps.store.adjustBalance(account, pnl(p, price, -delta));
        } else {
          next.entryPrice = round8((p.entryPrice * p.size + price * delta) / input.size);
        }
        next.size = input.size;
        fill = { orderId: nextId(), symbol, side: p.side, size: Math.abs(delta), price };
      }
      await deps.store.savePosition(account, next);
      return fill;
    },

    async closePosition(creds, input) {
      const account = await accountOf(creds);
      const symbol = paperSymbol(input.symbol);
      const { price, overridable } = await orderPrice(symbol);
      const p = await deps.store.closePosition(account, symbol, price, "manual", { overridable });
      if (!p) return null;
      return { orderId: nextId(), symbol, side: p.side, size: p.size, price: p.fillPrice };
    },

    async positions(creds): Promise<Position[]> {
      const account = await accountOf(creds);
      const out: Position[] = [];
      for (const p of await deps.store.positions(account)) {
        const mark = await priceOf(p.symbol);
        out.push({
          symbol: p.symbol,
          side: p.side,
          size: p.size,
          entryPrice: p.entryPrice,
          markPrice: mark,
          // Full precision: a P&L of 0.004 is not 0; formatting is the display's job.
          unrealizedPnl: pnl(p, mark, p.size),
          leverage: p.leverage,
          stopLoss: p.stopLoss,
          takeProfit: p.takeProfit,
        });
      }
      return out;
    },

    async market(creds, input) {
      await accountOf(creds);
      const symbol = paperSymbol(input);
      const rules = RULES[symbol.split("/")[0]!]!;
      return {
        symbol,
        active: true,
        lotStep: rules.lotStep,
        minSize: rules.lotStep,
        maxSize: rules.maxSize,
        minNotional: PAPER_MIN_NOTIONAL,
        maxLeverage: rules.maxLeverage,
        markPrice: await priceOf(symbol),
        takerFeeRate: 0,
        maintenanceMarginRate: PAPER_MAINTENANCE_MARGIN_RATE,
      };
    },

    async lastClose(creds, symbol, since) {
      const account = await accountOf(creds);
      const c = await deps.store.lastClose(account, paperSymbol(symbol), since);
      return c ? { price: c.price, size: c.size, fee: 0, reason: c.reason, at: c.at } : null;
    },

    async balance(creds): Promise<Balance[]> {
      const account = await accountOf(creds, true);
      const total = await deps.store.balance(account);
      const open = await venue.positions(creds);
      const upnl = open.reduce((n, p) => n + (p.unrealizedPnl ?? 0), 0);
      return [{ currency: PAPER_CURRENCY, total: total + upnl, free: total }];
    },
  };
  return venue;
}
