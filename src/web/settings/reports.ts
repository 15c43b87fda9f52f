/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The trading tab's reports (GET /api/reports/*): the profit summary, the cumulative P&L chart,
// P&L per day, week and month, per market, and the paged trade history.
import { amount, money, signedMoney } from "../../domain/trading/format";
import { $, type Json, show } from "../shared/dom";
import { cumulative, pnlChart } from "./pnl-chart";
import { num, pnlClass, type TradingTabDeps, td } from "./trading-shared";

const CHART_DAYS = 30;

function figure(list: HTMLElement, label: string, value: string, className = "") {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (className) dd.className = className;
  const pair = document.createElement("div");
  pair.append(dt, dd);
  list.append(pair);
}

function duration(ms: number | null): string {
  if (ms === null) return "—";
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m} min`;
  const h = m / 60;
  return h < 48 ? `${h.toFixed(1)} h` : `${(h / 24).toFixed(1)} days`;
}

function renderProfit(p: Json) {
  const list = $("#profit-summary");
  list.replaceChildren();
  const pnl = num(p.realizedPnl) ?? 0;
  const rate = num(p.winRate);
  const best = p.best as Json | null;
  const worst = p.worst as Json | null;
  const trade = (t: Json | null) =>
    t ? `#${String(t.id)} ${String(t.symbol)} ${signedMoney(num(t.pnl) ?? 0)}` : "—";
  figure(list, "Realised P&L", signedMoney(pnl), pnlClass(pnl));
  figure(list, "Closed trades", amount(num(p.trades) ?? 0));
  figure(list, "Win rate", rate === null ? "—" : `${money(rate * 100, 1)} %`);
  figure(list, "Fees", money(num(p.fees) ?? 0));
  figure(list, "Best", trade(best));
  figure(list, "Worst", trade(worst));
  figure(list, "Average duration", duration(num(p.averageDurationMs)));
  const pf = num(p.profitFactor);
  figure(list, "Profit factor", pf === null ? "—" : money(pf));
}

function periodRows(selector: string, periods: Json[]) {
  $(selector).replaceChildren(
    ...periods.map((r) => {
      const tr = document.createElement("tr");
      const pnl = num(r.realizedPnl) ?? 0;
      tr.append(
        td(String(r.period)),
        td(signedMoney(pnl), pnlClass(pnl)),
        td(amount(num(r.trades) ?? 0)),
      );
      return tr;
    }),
  );
}

export async function loadReports(deps: TradingTabDeps): Promise<void> {
  const [profit, daily, weekly, monthly, performance] = await Promise.all([
    deps.api("GET", "/api/reports/profit"),
    deps.api("GET", `/api/reports/daily?n=${CHART_DAYS}`),
    deps.api("GET", "/api/reports/weekly"),
    deps.api("GET", "/api/reports/monthly"),
    deps.api("GET", "/api/reports/performance"),
  ]);
  renderProfit(profit);
  const days = ((daily.periods ?? []) as Json[]).map((d) => ({
    day: String(d.period),
    pnl: num(d.realizedPnl) ?? 0,
  }));
  // The chart starts from what was realised before its first day, so its last point is the total.
  const inWindow = days.reduce((n, d) => n + d.pnl, 0);
  const before = Math.round(((num(profit.realizedPnl) ?? 0) - inWindow) * 1e8) / 1e8;
  $("#pnl-chart").replaceChildren(pnlChart(cumulative([...days].reverse(), before)));
  periodRows("#daily-rows", ((daily.periods ?? []) as Json[]).slice(0, 7));
  periodRows("#weekly-rows", (weekly.periods ?? []) as Json[]);
  periodRows("#monthly-rows", (monthly.periods ?? []) as Json[]);
  const symbols = (performance.symbols ?? []) as Json[];
  $("#performance-rows").replaceChildren(
    ...symbols.map((s) => {
      const tr = document.createElement("tr");
      const pnl = num(s.realizedPnl) ?? 0;
      tr.append(
        td(String(s.symbol)),
        td(signedMoney(pnl), pnlClass(pnl)),
        td(amount(num(s.trades) ?? 0)),
        td(`${money((num(s.winRate) ?? 0) * 100, 0)} %`),
      );
      return tr;
    }),
  );
  show("#performance-empty", symbols.length === 0);
}

// ---- trade history ------------------------------------------------------------------------

let historyBefore: string | null = null;

export async function loadHistory(deps: TradingTabDeps, fresh: boolean): Promise<void> {
  if (fresh) historyBefore = null;
  const q = historyBefore ? `?limit=20&before=${encodeURIComponent(historyBefore)}` : "?limit=20";
  const page = await deps.api("GET", `/api/reports/trades${q}`);
  const rows = ((page.trades ?? []) as Json[]).map((t) => {
    const tr = document.createElement("tr");
    tr.dataset.tradeId = String(t.id);
    const pnl = num(t.realizedPnl);
    const entry = num(t.entryPrice);
    const exit = num(t.exitPrice);
    const closed = typeof t.closedAt === "string" ? t.closedAt.slice(0, 10) : "open";
    tr.append(
      td(`#${String(t.id)} · ${closed}`),
      td(`${String(t.symbol)} ${String(t.side)} ${amount(num(t.size) ?? 0)}`),
      td(
        `${entry === null ? "?" : amount(entry)} → ${t.status === "open" ? "open" : exit === null ? "?" : amount(exit)}`,
      ),
      td(pnl === null ? "—" : signedMoney(pnl), pnlClass(pnl)),
    );
    return tr;
  });
  if (fresh) $("#history-rows").replaceChildren(...rows);
  else $("#history-rows").append(...rows);
  historyBefore = typeof page.nextBefore === "string" ? page.nextBefore : null;
  show("#history-more", historyBefore !== null);
  show("#history-empty", $("#history-rows").childElementCount === 0);
}

export function bindHistory(deps: TradingTabDeps): void {
  $("#history-more").addEventListener("click", async () => {
    try {
      await loadHistory(deps, false);
    } catch (err) {
      deps.flash("error", (err as Error).message);
    }
  });
}
