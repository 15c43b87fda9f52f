/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The trading tab's open positions: one card per trade (id, venue and key, market, side, size,
// entry, mark, unrealised P&L, SL, TP, liquidation, leverage, age) with Close and Close half.
// Closing needs a recent step-up: the API refuses without one and api() asks for it.
import { age, amount, signedMoney, signedPercent } from "../../domain/trading/format";
import { $, type Json, show } from "../shared/dom";
import { num, pnlClass, type TradingTabDeps } from "./trading-shared";

function figure(list: HTMLElement, label: string, value: string, className = "", field = "") {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (className) dd.className = className;
  if (field) dd.dataset.field = field;
  const pair = document.createElement("div");
  pair.append(dt, dd);
  list.append(pair);
}

const price = (v: unknown) => {
  const n = num(v);
  return n === null ? "—" : amount(n);
};

function card(p: Json, keyLabel: string, onClose: (percent: number) => void): HTMLElement {
  const el = document.createElement("article");
  el.className = "position";
  el.dataset.tradeId = String(p.id);
  const head = document.createElement("h3");
  head.textContent = `#${String(p.id)} ${String(p.symbol)} ${String(p.side)}`;
  const where = document.createElement("p");
  where.className = "muted";
  where.textContent = `${p.testnet ? "Testnet · " : ""}${String(p.venueName ?? p.venue)} · key ${keyLabel}`;
  const pnl = num(p.unrealizedPnl);
  const pct = num(p.unrealizedPnlPercent);
  const cur = String(p.currency ?? "");
  const dl = document.createElement("dl");
  dl.className = "figures";
  figure(dl, "Size", price(p.size), "", "size");
  figure(dl, "Entry", price(p.entryPrice), "", "entry");
  figure(dl, "Mark", price(p.markPrice), "", "mark");
  figure(
    dl,
    "Unrealised P&L",
    pnl === null
      ? "—"
      : `${signedMoney(pnl)} ${cur}${pct === null ? "" : ` (${signedPercent(pct)})`}`,
    pnlClass(pnl),
    "pnl",
  );
  figure(dl, "Stop-loss", price(p.stopLoss), "", "sl");
  figure(dl, "Take-profit", price(p.takeProfit), "", "tp");
  figure(dl, "Liquidation", price(p.liquidationPrice), "", "liq");
  figure(dl, "Leverage", `${String(p.leverage ?? 1)}x`, "", "leverage");
  figure(dl, "Age", age(num(p.ageMs) ?? 0), "", "age");
  const actions = document.createElement("div");
  actions.className = "actions";
  const close = document.createElement("button");
  close.type = "button";
  close.className = "danger";
  close.dataset.action = "close";
  close.textContent = `Close #${String(p.id)}`;
  close.addEventListener("click", () => onClose(100));
  const half = document.createElement("button");
  half.type = "button";
  half.className = "secondary";
  half.dataset.action = "close-half";
  half.textContent = "Close half";
  half.addEventListener("click", () => onClose(50));
  actions.append(close, half);
  el.append(head, where, dl, actions);
  return el;
}

export async function loadPositions(deps: TradingTabDeps): Promise<void> {
  const [body, keysBody] = await Promise.all([
    deps.api("GET", "/api/positions"),
    deps.api("GET", "/api/keys"),
  ]);
  const labels = new Map(
    ((keysBody.keys ?? []) as Json[]).map((k) => [
      String(k.id),
      k.label ? `"${String(k.label)}" (#${String(k.id)})` : `#${String(k.id)}`,
    ]),
  );
  const open = (Array.isArray(body.open) ? body.open : []) as Json[];
  const accounts = (Array.isArray(body.accounts) ? body.accounts : []) as Json[];
  $("#position-list").replaceChildren(
    ...open.map((p) =>
      card(
        p,
        labels.get(String(p.credentialId)) ?? `#${String(p.credentialId)}`,
        (percent) => void closeTrade(deps, p, percent),
      ),
    ),
  );
  show("#positions-empty", open.length === 0);
  // A venue that did not answer: its trades show without live figures, and say why.
  $("#position-errors").replaceChildren(
    ...accounts
      .filter((a) => typeof a.error === "string")
      .map((a) => {
        const li = document.createElement("li");
        li.textContent = `${String(a.venue)} key #${String(a.credentialId)}: ${String(a.error)}`;
        return li;
      }),
  );
}

let reload: () => Promise<void> = async () => {};

async function closeTrade(deps: TradingTabDeps, p: Json, percent: number) {
  const what = percent === 100 ? "" : `${percent} % of `;
  const name = `#${String(p.id)} ${String(p.symbol)} ${String(p.side)} ${price(p.size)}`;
  if (!window.confirm(`Close ${what}${name}?`)) return;
  try {
    const body = percent === 100 ? undefined : { percent };
    const r = await deps.api("POST", `/api/trades/${encodeURIComponent(String(p.id))}/close`, body);
    const t = (r.trade ?? {}) as Json;
    deps.flash(
      "notice",
      t.status === "closed"
        ? `Closed #${String(p.id)}.`
        : `Reduced #${String(p.id)} to ${price(t.size)}.`,
    );
  } catch (err) {
    deps.flash("error", (err as Error).message);
  }
  await reload();
}

export function bindPositions(deps: TradingTabDeps, reloadTab: () => Promise<void>): void {
  reload = reloadTab;
  $("#positions-refresh").addEventListener("click", () => void loadPositions(deps));
}
