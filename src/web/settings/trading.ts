/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The settings page's trading tab: the Account / Trading tabs, and loading the tab's parts
// (open positions, P&L reports with the chart, trade history, notification settings) when it
// is opened. main.ts hands over its API helpers; every server text is set with textContent.
import { $ } from "../shared/dom";
import { bindNotifications, loadNotifications } from "./notifications";
import { bindPositions, loadPositions } from "./positions";
import { bindHistory, loadHistory, loadReports } from "./reports";
import type { TradingTabDeps } from "./trading-shared";

export type { TradingTabDeps };

type Tab = "account" | "trading";

function select(tab: Tab) {
  for (const t of ["account", "trading"] as const) {
    $(`#tab-${t}`).setAttribute("aria-selected", String(t === tab));
    $(`#${t}-panel`).hidden = t !== tab;
  }
}

/** Loads every part of the tab; one part failing does not keep the others from showing. */
export async function loadTrading(deps: TradingTabDeps): Promise<void> {
  const parts = await Promise.allSettled([
    loadPositions(deps),
    loadReports(deps),
    loadHistory(deps, true),
    loadNotifications(deps),
  ]);
  const failed = parts.find((p): p is PromiseRejectedResult => p.status === "rejected");
  if (failed) deps.flash("error", (failed.reason as Error).message);
}

export function bindTrading(deps: TradingTabDeps): void {
  $("#tab-account").addEventListener("click", () => select("account"));
  $("#tab-trading").addEventListener("click", () => {
    select("trading");
    void loadTrading(deps);
  });
  bindPositions(deps, () => loadTrading(deps));
  bindHistory(deps);
  bindNotifications(deps);
}

/** Signed out: back to the account tab, nothing of the last user's trading left on the page. */
export function resetTrading(): void {
  select("account");
  for (const id of [
    "#position-list",
    "#position-errors",
    "#profit-summary",
    "#pnl-chart",
    "#daily-rows",
    "#weekly-rows",
    "#monthly-rows",
    "#performance-rows",
    "#history-rows",
    "#notification-rows",
  ]) {
    $(id).replaceChildren();
  }
}
