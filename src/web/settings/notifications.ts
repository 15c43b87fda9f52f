/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The trading tab's notification settings (GET/PUT /api/notifications): per event on/off and
// its channels (Telegram, email, web), and the daily summary's hour. Only the events the user
// changed are sent; the server refuses a channel the account cannot be reached on.
import { $, type Json } from "../shared/dom";
import type { TradingTabDeps } from "./trading-shared";

/** Titles of the events the server knows today; an event added later shows by its name. */
const TITLES: Record<string, string> = {
  entry: "Entries",
  exit: "Exits",
  stop_loss: "Stop loss hit",
  take_profit: "Take profit hit",
  liquidation: "Liquidations",
  daily_summary: "Daily summary",
};
const CHANNELS: Array<[string, string]> = [
  ["telegram", "Telegram"],
  ["email", "Email"],
  ["web", "Web"],
];
const FIELDS = ["enabled", ...CHANNELS.map(([c]) => c)];

let loaded: Record<string, Json> = {};
let loadedHour: number | null = null;

function checkbox(event: string, field: string, text: string, checked: boolean) {
  const label = document.createElement("label");
  const input = document.createElement("input");
  input.type = "checkbox";
  input.name = `${event}.${field}`;
  input.checked = checked;
  label.append(input, ` ${text}`);
  return label;
}

function render(settings: Record<string, Json>, hour: number | null) {
  loaded = settings;
  loadedHour = hour;
  $("#notification-rows").replaceChildren(
    ...Object.entries(settings).map(([event, s]) => {
      const set = document.createElement("fieldset");
      set.dataset.event = event;
      const legend = document.createElement("legend");
      legend.textContent = TITLES[event] ?? event.replaceAll("_", " ");
      set.append(
        legend,
        checkbox(event, "enabled", "On", s.enabled === true),
        ...CHANNELS.map(([c, title]) => checkbox(event, c, title, s[c] === true)),
      );
      return set;
    }),
  );
  const select = $<HTMLSelectElement>("#notifications-form select[name=dailySummaryHour]");
  select.replaceChildren(
    ...Array.from({ length: 24 }, (_, h) => {
      const o = document.createElement("option");
      o.value = String(h);
      o.textContent = `${String(h).padStart(2, "0")}:00`;
      return o;
    }),
  );
  select.value = String(hour ?? 0);
}

export async function loadNotifications(deps: TradingTabDeps): Promise<void> {
  const r = await deps.api("GET", "/api/notifications");
  render(
    (r.settings ?? {}) as Record<string, Json>,
    typeof r.dailySummaryHour === "number" ? r.dailySummaryHour : null,
  );
}

export function bindNotifications(deps: TradingTabDeps): void {
  const form = $<HTMLFormElement>("#notifications-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const patch: Record<string, unknown> = {};
    for (const [event, s] of Object.entries(loaded)) {
      const changed: Record<string, boolean> = {};
      for (const field of FIELDS) {
        const input = form.elements.namedItem(`${event}.${field}`) as HTMLInputElement | null;
        if (input && input.checked !== (s[field] === true)) changed[field] = input.checked;
      }
      if (Object.keys(changed).length) patch[event] = changed;
    }
    const hour = Number(form.dailySummaryHour.value);
    if (hour !== loadedHour) patch.dailySummaryHour = hour;
    if (Object.keys(patch).length === 0) return void deps.flash("notice", "Nothing changed.");
    try {
      const r = await deps.api("PUT", "/api/notifications", patch);
      render(
        (r.settings ?? {}) as Record<string, Json>,
        typeof r.dailySummaryHour === "number" ? r.dailySummaryHour : null,
      );
      deps.flash("notice", "Notification settings saved.");
    } catch (err) {
      deps.flash("error", (err as Error).message);
    }
  });
}
