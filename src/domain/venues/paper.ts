// The paper venue: a simulated futures account that fills at a deterministic price feed, so a
// new user can try every flow without an exchange. The account is the credential's public
// wallet address (`paper-…`); nothing secret is involved.
import {
  type Balance,
  type Fill,
  type ModifyPositionInput,
  type OpenPositionInput,
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

/** Storage of paper accounts (PostgreSQL in src/infra, so every process sees the same book). */
export interface PaperStore {
  ensureAccount(account: string, initialBalance: number): Promise<void>;
  balance(account: string): Promise<number>;
  position(account: string, symbol: string): Promise<PaperPosition | null>;
  positions(account: string): Promise<PaperPosition[]>;
  savePosition(account: string, position: PaperPosition): Promise<void>;
  deletePosition(account: string, symbol: string): Promise<void>;
  /** Adds realised profit or loss; the balance never goes below zero. */
  adjustBalance(account: string, delta: number): Promise<void>;
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
  now?: () => number;
  nextId?: () => string;
}): Venue {
  const now = deps.now ?? Date.now;
  let counter = 0;
  const nextId = deps.nextId ?? (() => `paper-${now()}-${++counter}`);

  const accountOf = async (creds: VenueCredentials): Promise<string> => {
    const account = creds.walletAddress;
    if (!account || !/^paper-[0-9a-f]{8,32}$/.test(account)) {
      throw new VenueError("unsupported_credentials", "This is not a paper account.");
    }
    await deps.store.ensureAccount(account, PAPER_INITIAL_BALANCE);
    return account;
  };

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
      const account = await accountOf(creds);
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
      const price = paperPrice(symbol, now());
      const existing = await deps.store.position(account, symbol);
      if (existing && existing.side !== input.side) {
        throw new VenueError(
          "invalid_order",
          `You hold a ${existing.side} ${symbol} position; close it first.`,
        );
      }
      const size = round8((existing?.size ?? 0) + input.size);
      const entryPrice = existing
        ? round8((existing.entryPrice * existing.size + price * input.size) / size)
        : price;
      await deps.store.savePosition(account, {
        symbol,
        side: input.side,
        size,
        entryPrice,
        leverage,
        stopLoss: input.stopLoss ?? existing?.stopLoss ?? null,
        takeProfit: input.takeProfit ?? existing?.takeProfit ?? null,
      });
      return { orderId: nextId(), symbol, side: input.side, size: input.size, price };
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
        const price = paperPrice(symbol, now());
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
      const p = await deps.store.position(account, symbol);
      if (!p) return null;
      const price = paperPrice(symbol, now());
      await deps.store.adjustBalance(account, pnl(p, price, p.size));
      await deps.store.deletePosition(account, symbol);
      return {
        orderId: nextId(),
        symbol,
        side: p.side,
        size: p.size,
        price,
      };
    },

    async positions(creds): Promise<Position[]> {
      const account = await accountOf(creds);
      const t = now();
      return (await deps.store.positions(account)).map((p) => {
        const mark = paperPrice(p.symbol, t);
        return {
          symbol: p.symbol,
          side: p.side,
          size: p.size,
          entryPrice: p.entryPrice,
          markPrice: mark,
          unrealizedPnl: Math.round(pnl(p, mark, p.size) * 100) / 100,
          leverage: p.leverage,
        };
      });
    },

    async balance(creds): Promise<Balance[]> {
      const account = await accountOf(creds);
      const total = await deps.store.balance(account);
      const open = await venue.positions(creds);
      const upnl = open.reduce((n, p) => n + (p.unrealizedPnl ?? 0), 0);
      return [
        { currency: PAPER_CURRENCY, total: Math.round((total + upnl) * 100) / 100, free: total },
      ];
    },
  };
  return venue;
}
