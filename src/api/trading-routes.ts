// Trading over HTTP: the same use cases as the bot's commands. The client's IP (trusted-proxy
// aware) is recorded with each action; `Idempotency-Key` makes a retried open open once.
import { randomBytes } from "node:crypto";
import express, { type Request, Router } from "express";
import { z } from "zod";
import type { AccountService } from "../domain/accounts/service";
import type { AuthContext } from "../domain/accounts/shared";
import type { PartialClose } from "../domain/trading/partial-close";
import { positionOf, positionView } from "../domain/trading/position-view";
import {
  type OrderQuote,
  type OrderRequest,
  PreTradeError,
} from "../domain/trading/pre-trade-rules";
import { parseSize } from "../domain/trading/sizing";
import type { Trading } from "../domain/trading/trading";
import {
  type Caller,
  type TradeRecord,
  TradingError,
  TradingPausedError,
  TradingPendingError,
} from "../domain/trading/types";
import { authedHandler, clientOf, noStore, parse, requireAuth } from "./auth-routes";

export interface AuditPage {
  entries: Array<Record<string, unknown>>;
  nextBefore: string | null;
}

export function tradeView(t: TradeRecord) {
  return {
    ...t,
    openedAt: t.openedAt.toISOString(),
    closedAt: t.closedAt?.toISOString() ?? null,
  };
}

const price = z.number().positive().finite();
const openBody = z.object({
  symbol: z
    .string()
    .min(2)
    .max(30)
    .regex(/^[A-Za-z0-9/:._-]+$/),
  side: z.enum(["long", "short"]),
  /** 0.01 (base units), "500usdt" / "$500" (order value), "10%" (of free margin). */
  size: z.union([price, z.string().min(1).max(24)]),
  /** The order is sent only with this; without it the answer is the quote to confirm. */
  confirm: z.literal(true).optional(),
  stopLoss: price.optional(),
  takeProfit: price.optional(),
  leverage: z.number().int().min(1).max(125).optional(),
  keyId: z
    .string()
    .regex(/^\d{1,19}$/)
    .optional(),
});
const modifyBody = z
  .object({
    stopLoss: price.nullable().optional(),
    takeProfit: price.nullable().optional(),
    size: price.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, "nothing to modify");
/** Without a body (or percent 100) the whole position; otherwise that share of it. */
const closeBody = z.object({ percent: z.number().int().min(1).max(100).optional() }).strict();

const STATUS: Record<TradingError["code"], number> = {
  no_key: 409,
  key_not_usable: 409,
  trade_not_found: 404,
  trade_closed: 409,
  already_open: 409,
  in_progress: 409,
  venue_failed: 502,
  // The venue's answer was lost and it has not said since whether the order executed.
  outcome_unknown: 504,
  // The kill switch: temporary and not the client's fault; the JSON code says why.
  trading_paused: 503,
  size_not_reduced: 422,
  // Only with a separate signer (src/jobs/remote-trading.ts). A change still working is 202
  // (TradingPendingError, below); a read the signer has not answered is asked again later.
  still_working: 503,
  refused: 409,
  forbidden: 403,
  signer_failed: 502,
};

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{8,128}$/;

/**
 * The request's key for a change handed to a signer: its Idempotency-Key (a client's retry with
 * the same key joins the request instead of repeating it), or a fresh one of its own. Without a
 * key every request is its own intent, as on the direct path: of two concurrent closes of one
 * trade one succeeds and the other is told the trade is already closed (409 trade_closed), never
 * both 200. A fresh key is returned with a 202 "still working", so the client may join it then.
 */
function requestKeyOf(req: Request): string {
  const given = req.get("idempotency-key");
  if (given !== undefined && IDEMPOTENCY_KEY.test(given)) return `api:${given}`;
  return `api:auto-${randomBytes(16).toString("base64url")}`;
}

export function createTradingRoutes(deps: {
  accounts: AccountService;
  trading: Trading;
  auditPage: (userId: string, opts: { limit: number; before?: string }) => Promise<AuditPage>;
  /** The pre-trade checks (src/domain/trading/pre-trade.ts). */
  quote: (userId: string, req: OrderRequest) => Promise<OrderQuote>;
  /** A share of a trade on its market's lot step (src/domain/trading/partial-close.ts). */
  partialClose: (t: TradeRecord, percent: number) => Promise<PartialClose>;
  /**
   * The confirmed order: its pre-trade checks, then the open (with a separate signer, both in
   * the signer). Without it, `quote` then `trading.openTrade`.
   */
  placeOrder?: (
    caller: Caller,
    order: OrderRequest,
    idempotencyKey?: string,
  ) => Promise<TradeRecord>;
}): Router {
  const router = Router();
  router.use(noStore);
  router.use(express.json({ limit: "16kb" }));
  router.use(requireAuth(deps.accounts));

  const handle = authedHandler((err, res) => {
    if (err instanceof TradingPendingError) {
      // Handed to the signer, not answered yet: the same request again joins it, and the trade
      // routes show it once done; the user is notified too.
      res.status(202).json({
        status: "still_working",
        message: err.message,
        idempotencyKey: err.requestKey.replace(/^api:/, ""),
        check: ["/api/trades?status=open", "/api/positions", "/api/audit"],
      });
    } else if (err instanceof TradingError) {
      // A venue that asked Warden to slow down is temporarily unavailable, not a bad gateway.
      const status = err.venueCode === "rate_limited" ? 503 : STATUS[err.code];
      res.status(status).json({
        error: err.code,
        message: err.message,
        ...(err.venueCode ? { venueError: err.venueCode } : {}),
        ...(err instanceof TradingPausedError ? { scope: err.scope } : {}),
      });
    } else {
      return false;
    }
    return true;
  });
  const caller = async (req: Request, auth: AuthContext): Promise<Caller> => ({
    userId: auth.user.id,
    source: "api" as const,
    ip: clientOf(req).ip,
    requestKey: requestKeyOf(req),
  });
  const placeOrder =
    deps.placeOrder ??
    (async (c: Caller, order: OrderRequest, idempotencyKey?: string) => {
      const quote = await deps.quote(c.userId, order);
      return deps.trading.openTrade(c, {
        symbol: quote.symbol,
        side: order.side,
        size: quote.size,
        stopLoss: order.stopLoss,
        takeProfit: order.takeProfit,
        leverage: order.leverage,
        credentialId: quote.credentialId,
        idempotencyKey,
      });
    });

  router.post(
    "/trades",
    handle(async (req, res, auth) => {
      const body = parse(openBody, req.body);
      const key = req.get("idempotency-key");
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        res.status(400).json({
          error: "invalid_request",
          message: "Idempotency-Key must be 8-128 of A-Z a-z 0-9 _ -.",
        });
        return;
      }
      // A retried request is answered with what it opened, before the pre-trade checks run again.
      if (key) {
        const replayed = await deps.trading.replayedOpen(auth.user.id, `api:${key}`);
        if (replayed) {
          res.status(201).json({ trade: tradeView(replayed) });
          return;
        }
      }
      const { keyId, confirm, size, ...input } = body;
      const spec =
        typeof size === "number" ? { kind: "base" as const, value: size } : parseSize(size);
      if (!spec) {
        res.status(400).json({
          error: "invalid_request",
          message: `size must be like 0.01, "500usdt", "$500" or "10%", got "${String(size).slice(0, 24)}".`,
        });
        return;
      }
      const order = { ...input, size: spec, credentialId: keyId };
      try {
        if (confirm !== true) {
          const quote: OrderQuote = await deps.quote(auth.user.id, order);
          res.status(428).json({
            error: "confirmation_required",
            message: 'Check the order and send it again with "confirm": true.',
            quote,
          });
          return;
        }
        const t = await placeOrder(await caller(req, auth), order, key ? `api:${key}` : undefined);
        res.status(201).json({ trade: tradeView(t) });
      } catch (err) {
        if (!(err instanceof PreTradeError)) throw err;
        res.status(422).json({ error: "pre_trade_refused", rule: err.rule, message: err.message });
      }
    }),
  );

  router.patch(
    "/trades/:id",
    handle(async (req, res, auth) => {
      const body = parse(modifyBody, req.body);
      // A smaller size is a partial close: it needs the same recent step-up as the close route.
      if (body.size !== undefined) deps.accounts.requireStepUp(auth);
      res.json({
        trade: tradeView(
          await deps.trading.modifyTrade(await caller(req, auth), String(req.params.id), body),
        ),
      });
    }),
  );

  router.post(
    "/trades/:id/close",
    handle(async (req, res, auth) => {
      // Closing realises a loss nobody can take back: a stolen access token alone must not.
      deps.accounts.requireStepUp(auth);
      const { percent = 100 } = parse(closeBody, req.body ?? {});
      const id = String(req.params.id);
      if (percent === 100) {
        res.json({ trade: tradeView(await deps.trading.closeTrade(await caller(req, auth), id)) });
        return;
      }
      const open = await deps.trading.listTrades(auth.user.id, { limit: 100, status: "open" });
      const t = open.find((x) => x.id === id);
      if (!t) {
        res.status(404).json({ error: "trade_not_found", message: `No open trade #${id}.` });
        return;
      }
      const part = await deps.partialClose(t, percent);
      if (!part.ok) {
        res.status(409).json({ error: part.error, message: part.message });
        return;
      }
      res.json({
        trade: tradeView(
          await deps.trading.modifyTrade(await caller(req, auth), id, { size: part.size }),
        ),
      });
    }),
  );

  router.get(
    "/trades",
    handle(async (req, res, auth) => {
      const limit = Math.min(Number(req.query.limit ?? 50) || 50, 100);
      const before =
        typeof req.query.before === "string" && /^\d{1,19}$/.test(req.query.before)
          ? req.query.before
          : undefined;
      const status =
        req.query.status === "open" || req.query.status === "closed" ? req.query.status : undefined;
      const trades = await deps.trading.listTrades(auth.user.id, {
        limit,
        beforeId: before,
        status,
      });
      res.json({
        trades: trades.map(tradeView),
        nextBefore: trades.length === limit ? trades.at(-1)!.id : null,
      });
    }),
  );

  router.get(
    "/positions",
    handle(async (_req, res, auth) => {
      const accounts = await deps.trading.portfolio(auth.user.id);
      const open = await deps.trading.listTrades(auth.user.id, { limit: 100, status: "open" });
      const now = Date.now();
      res.json({
        accounts,
        // Warden's open trades with the venue's live figures, oldest first (the bot's order).
        open: [...open].reverse().map((t) => positionView(t, positionOf(t, accounts), now)),
      });
    }),
  );

  router.get(
    "/audit",
    handle(async (req, res, auth) => {
      const limit = Math.min(Number(req.query.limit ?? 50) || 50, 200);
      const before =
        typeof req.query.before === "string" && /^\d{1,19}$/.test(req.query.before)
          ? req.query.before
          : undefined;
      res.json(await deps.auditPage(auth.user.id, { limit, before }));
    }),
  );

  return router;
}
