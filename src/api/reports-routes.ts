// GET /api/reports/{profit,daily,weekly,monthly,performance}: the bot's reports as JSON, and
// GET /api/reports/trades: the trade history with realised P&L, paged like /trades.
import { type Request, type Response, Router } from "express";
import type { AccountService } from "../domain/accounts/service";
import {
  type LedgerStore,
  type PeriodUnit,
  performanceReport,
  periodReport,
  periodSince,
  profitReport,
} from "../domain/reports";
import type { TradeHistoryStore } from "../domain/trading/history";
import { displaySymbol } from "../domain/trading/symbols";
import { authedHandler, noStore, requireAuth } from "./auth-routes";

/** A whole-number query parameter in 1..max, its default when absent, or null when malformed. */
function count(req: Request, name: string, def: number, max: number): number | null {
  const raw = req.query[name];
  if (raw === undefined) return def;
  if (typeof raw !== "string" || !/^\d{1,4}$/.test(raw)) return null;
  const n = Number(raw);
  return n >= 1 && n <= max ? n : null;
}

const bad = (res: Response, name: string, max: number) =>
  res.status(400).json({ error: "invalid_request", message: `${name} must be 1-${max}.` });

export function createReportsRoutes(deps: {
  accounts: AccountService;
  ledger: LedgerStore;
  tradeHistory: TradeHistoryStore;
  now?: () => number;
}): Router {
  const now = deps.now ?? Date.now;
  const router = Router();
  router.use(noStore);
  router.use(requireAuth(deps.accounts));
  const handle = authedHandler(() => false);

  router.get(
    "/reports/profit",
    handle(async (req, res, auth) => {
      const days = count(req, "days", 3650, 3650);
      if (days === null) return void bad(res, "days", 3650);
      const since = req.query.days === undefined ? null : new Date(now() - days * 86_400_000);
      res.json(profitReport(await deps.ledger.closedTrades(auth.user.id, since)));
    }),
  );

  const periods: Array<[string, PeriodUnit, number, number]> = [
    ["daily", "day", 7, 90],
    ["weekly", "week", 8, 52],
    ["monthly", "month", 6, 36],
  ];
  for (const [path, unit, def, max] of periods) {
    router.get(
      `/reports/${path}`,
      handle(async (req, res, auth) => {
        const n = count(req, "n", def, max);
        if (n === null) return void bad(res, "n", max);
        const at = new Date(now());
        const rows = await deps.ledger.closedTrades(auth.user.id, periodSince(unit, n, at));
        res.json({
          periods: periodReport(rows, unit, n, at).map((p) => ({
            period: p.period,
            realizedPnl: p.realizedPnl,
            trades: p.trades,
          })),
        });
      }),
    );
  }

  router.get(
    "/reports/trades",
    handle(async (req, res, auth) => {
      const limit = count(req, "limit", 20, 50);
      if (limit === null) return void bad(res, "limit", 50);
      const raw = req.query.before;
      if (raw !== undefined && (typeof raw !== "string" || !/^\d{1,19}$/.test(raw))) {
        return void res
          .status(400)
          .json({ error: "invalid_request", message: "before must be a trade id." });
      }
      const page = await deps.tradeHistory.page(auth.user.id, limit, raw ? { before: raw } : null);
      res.json({
        trades: page.trades.map((t) => ({
          id: t.id,
          credentialId: t.credentialId,
          venue: t.venue,
          testnet: t.testnet === true,
          symbol: displaySymbol(t.symbol),
          side: t.side,
          size: t.size,
          entryPrice: t.entryPrice,
          exitPrice: t.exitPrice,
          status: t.status,
          realizedPnl: t.realizedPnl,
          openedAt: t.openedAt.toISOString(),
          closedAt: t.closedAt?.toISOString() ?? null,
        })),
        nextBefore: page.older ? (page.trades.at(-1)?.id ?? null) : null,
      });
    }),
  );

  router.get(
    "/reports/performance",
    handle(async (_req, res, auth) => {
      res.json({ symbols: performanceReport(await deps.ledger.closedTrades(auth.user.id, null)) });
    }),
  );
  return router;
}
