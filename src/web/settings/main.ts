/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The settings page (bundled by esbuild into /assets/settings.js). The access token lives only
// in memory; the refresh token is an HttpOnly cookie the page never sees. Every text from the
// server is set with textContent, never as HTML.
import { $, ApiError, type Json, setText, show } from "../shared/dom";
import { bindOnboarding, onSignInRefused, renderAccount, resetSignedOutForms } from "./onboarding";
import { bindTrading, resetTrading } from "./trading";

let accessToken: string | null = null;
let me: Json | null = null;

function flash(kind: "notice" | "error", text: string | null) {
  const other = kind === "notice" ? "error" : "notice";
  show(`#${other}`, false);
  setText(`#${kind}`, text ?? "");
  show(`#${kind}`, Boolean(text));
}

async function raw(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
}

async function parse(res: Response): Promise<Json> {
  const text = await res.text();
  let body: Json = {};
  if (text) {
    try {
      body = JSON.parse(text) as Json;
    } catch {
      body = {};
    }
  }
  if (!res.ok) {
    throw new ApiError(
      res.status,
      String(body.error ?? "http_error"),
      String(body.message ?? `The server answered ${res.status}.`),
    );
  }
  return body;
}

/** Refreshes the access token from the HttpOnly cookie; false when there is no session. */
// One refresh at a time: refresh tokens rotate, and a second request with the old cookie would
// look like a replay and end the whole session family (S5.3).
let refreshing: Promise<boolean> | null = null;
function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const res = await fetch("/api/auth/refresh", { method: "POST", credentials: "same-origin" });
      if (!res.ok) return false;
      accessToken = String(((await res.json()) as Json).accessToken);
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/**
 * An API call: an expired access token is refreshed once; a change that needs step-up asks for
 * the password (and code) and is retried.
 */
async function api(method: string, path: string, body?: unknown): Promise<Json> {
  let res = await raw(method, path, body);
  if (res.status === 401 && accessToken) {
    const peek = (await res
      .clone()
      .json()
      .catch(() => ({}))) as Json;
    if (peek.error === "invalid_token" || peek.error === "token_expired") {
      if (!(await refresh())) {
        signedOut("Your session ended. Sign in again.");
        throw new ApiError(401, "signed_out", "Your session ended.");
      }
      res = await raw(method, path, body);
    } else if (peek.error === "reauth_required") {
      await stepUp();
      res = await raw(method, path, body);
    }
  } else if (res.status === 403 && accessToken) {
    const peek = (await res
      .clone()
      .json()
      .catch(() => ({}))) as Json;
    if (peek.error === "step_up_required") {
      await stepUp();
      res = await raw(method, path, body);
    }
  }
  return parse(res);
}

// ---- step-up ------------------------------------------------------------------------------

function stepUp(): Promise<void> {
  const dialog = $<HTMLDialogElement>("#step-up");
  const form = $<HTMLFormElement>("#step-up-form");
  show("#step-up-password", me?.hasPassword !== false);
  show("#step-up-code", me?.totpEnabled === true);
  show("#step-up-error", false);
  form.reset();
  dialog.showModal();
  return new Promise((resolve, reject) => {
    const done = () => {
      form.removeEventListener("submit", onSubmit);
      $("#step-up-cancel").removeEventListener("click", onCancel);
      dialog.close();
    };
    const onCancel = () => {
      done();
      reject(new ApiError(401, "cancelled", "Cancelled."));
    };
    const onSubmit = async (e: SubmitEvent) => {
      e.preventDefault();
      const data = new FormData(form);
      const body: Json = {};
      if (me?.hasPassword !== false) body.password = String(data.get("password") ?? "");
      if (me?.totpEnabled === true) body.code = String(data.get("code") ?? "").trim();
      try {
        await parse(await raw("POST", "/api/auth/step-up", body));
        done();
        resolve();
      } catch (err) {
        setText("#step-up-error", (err as Error).message);
        show("#step-up-error", true);
      }
    };
    form.addEventListener("submit", onSubmit);
    $("#step-up-cancel").addEventListener("click", onCancel);
  });
}

// ---- sign in / out ------------------------------------------------------------------------

let challenge: string | null = null;

function signedOut(message?: string) {
  accessToken = null;
  me = null;
  closeLive();
  resetTrading();
  show("#app-view", false);
  show("#sign-out", false);
  show("#whoami", false);
  show("#live-status", false);
  show("#telegram-view", false);
  show("#signin-view", true);
  show("#signin-form", true);
  show("#second-factor-form", false);
  resetSignedOutForms();
  if (message) flash("notice", message);
}

async function signedIn(token: string) {
  accessToken = token;
  challenge = null;
  show("#signin-view", false);
  show("#telegram-view", false);
  show("#app-view", true);
  show("#sign-out", true);
  flash("error", null);
  await loadMe();
  await Promise.all([loadKeys(), loadSessions(), loadAudit(true), loadAlerts()]);
  openLive();
}

function bindSignIn() {
  $<HTMLFormElement>("#signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(e.target as HTMLFormElement);
    show("#resend-form", false);
    try {
      const r = await parse(
        await raw("POST", "/api/auth/login", {
          email: String(data.get("email") ?? ""),
          password: String(data.get("password") ?? ""),
        }),
      );
      if (typeof r.challenge === "string") {
        challenge = r.challenge;
        show("#signin-form", false);
        show("#second-factor-form", true);
        flash("error", null);
        $<HTMLInputElement>("#second-factor-form input[name=code]").focus();
      } else {
        // Step-up is earned in a session, never born with it: the password just typed is
        // checked once more in this new session, so the settings can be changed right away.
        accessToken = String(r.accessToken);
        await raw("POST", "/api/auth/step-up", { password: String(data.get("password") ?? "") });
        await signedIn(String(r.accessToken));
      }
    } catch (err) {
      flash("error", (err as Error).message);
      onSignInRefused(err, String(data.get("email") ?? ""));
    }
  });
  $<HTMLFormElement>("#second-factor-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const code = String(new FormData(form).get("code") ?? "").trim();
    try {
      const r = await parse(await raw("POST", "/api/auth/login/2fa", { challenge, code }));
      form.reset();
      await signedIn(String(r.accessToken));
    } catch (err) {
      flash("error", (err as Error).message);
      if (err instanceof ApiError && err.code === "invalid_challenge") signedOut();
    }
  });
  $("#sign-out").addEventListener("click", async () => {
    await raw("POST", "/api/auth/logout").catch(() => undefined);
    signedOut("You are signed out.");
  });
}

async function loadMe() {
  me = (await api("GET", "/api/auth/me")).user as Json;
  setText("#whoami", String(me.email ?? (me.telegramLinked ? "Telegram account" : "")));
  show("#whoami", true);
  renderTwoFactor();
  renderAccount(me);
}

// ---- two-factor ---------------------------------------------------------------------------

function renderTwoFactor() {
  const on = me?.totpEnabled === true;
  setText(
    "#totp-status",
    on
      ? "Two-factor authentication is on."
      : "Two-factor authentication is off. Turn it on before you add exchange keys.",
  );
  show("#totp-enrol", !on);
  show("#totp-manage", on);
  if (on) show("#totp-enrolment", false);
}

function showBackupCodes(codes: unknown) {
  const list = $("#backup-code-list");
  list.replaceChildren(
    ...(Array.isArray(codes) ? codes : []).map((c) => {
      const li = document.createElement("li");
      li.textContent = String(c);
      return li;
    }),
  );
  show("#backup-codes", true);
}

function bindTwoFactor() {
  $("#totp-enrol").addEventListener("click", async () => {
    try {
      const r = await api("POST", "/api/auth/2fa/enroll");
      $<HTMLImageElement>("#totp-qr").src = String(r.qrCode);
      setText("#totp-secret", String(r.secret));
      show("#totp-enrolment", true);
      show("#totp-enrol", false);
    } catch (err) {
      flash("error", (err as Error).message);
    }
  });
  $<HTMLFormElement>("#totp-confirm-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    try {
      const r = await api("POST", "/api/auth/2fa/confirm", {
        code: String(new FormData(form).get("code") ?? "").trim(),
      });
      form.reset();
      show("#totp-enrolment", false);
      setText("#totp-secret", "");
      $<HTMLImageElement>("#totp-qr").removeAttribute("src");
      showBackupCodes(r.backupCodes);
      await loadMe();
      flash("notice", "Two-factor authentication is on.");
    } catch (err) {
      flash("error", (err as Error).message);
    }
  });
  $("#backup-codes-done").addEventListener("click", () => {
    $("#backup-code-list").replaceChildren();
    show("#backup-codes", false);
  });
  $<HTMLFormElement>("#backup-regenerate-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    try {
      const r = await api("POST", "/api/auth/2fa/backup-codes/regenerate", {
        code: String(new FormData(form).get("code") ?? "").trim(),
      });
      form.reset();
      showBackupCodes(r.backupCodes);
      flash("notice", "New backup codes: the old ones no longer work.");
    } catch (err) {
      flash("error", (err as Error).message);
    }
  });
  $<HTMLFormElement>("#totp-disable-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    try {
      await api("POST", "/api/auth/2fa/disable", {
        code: String(new FormData(form).get("code") ?? "").trim(),
      });
      form.reset();
      await loadMe();
      flash("notice", "Two-factor authentication is off.");
    } catch (err) {
      flash("error", (err as Error).message);
    }
  });
}

// ---- exchange keys ------------------------------------------------------------------------

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function button(text: string, className: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function setKeyFormVenue(venue: string) {
  const dex = venue === "hyperliquid";
  for (const el of document.querySelectorAll<HTMLElement>("#key-form [data-for=cex]")) {
    el.hidden = dex;
  }
  for (const el of document.querySelectorAll<HTMLElement>("#key-form [data-for=dex]")) {
    el.hidden = !dex;
  }
}

function resetKeyForm() {
  const form = $<HTMLFormElement>("#key-form");
  form.reset();
  setText("#key-form-title", "Add a key");
  setText("#key-submit", "Verify and add");
  show("#key-cancel", false);
  form.venue.disabled = false;
  setKeyFormVenue(form.venue.value);
}

async function loadKeys() {
  const { keys } = (await api("GET", "/api/keys")) as { keys: Json[] };
  const visible = keys.filter((k) => k.status !== "revoked");
  $("#key-rows").replaceChildren(
    ...visible.map((k) => {
      const tr = document.createElement("tr");
      tr.dataset.keyId = String(k.id);
      const scopes = Array.isArray(k.scopes) ? k.scopes.join(", ") : "";
      const warnings = Array.isArray(k.warnings)
        ? (k.warnings as Json[]).map((w) => String(w.message ?? w.code)).join(" ")
        : "";
      const status =
        k.status === "disabled" ? `disabled: ${String(k.disabledReason ?? "")}` : String(k.status);
      const actions = document.createElement("td");
      actions.append(
        button("Rotate", "secondary", () => {
          const form = $<HTMLFormElement>("#key-form");
          form.reset();
          form.rotateId.value = String(k.id);
          form.venue.value = String(k.venue);
          form.venue.disabled = true;
          setKeyFormVenue(String(k.venue));
          form.label.value = String(k.label ?? "");
          setText("#key-form-title", `Rotate ${String(k.keyHint ?? k.label ?? "key")}`);
          setText("#key-submit", "Verify and replace");
          show("#key-cancel", true);
          form.scrollIntoView();
        }),
        button("Revoke", "danger", async () => {
          if (!window.confirm(`Revoke the ${String(k.venue)} key ${String(k.keyHint)}?`)) return;
          try {
            await api("DELETE", `/api/keys/${encodeURIComponent(String(k.id))}`);
            flash("notice", "Key revoked.");
            await loadKeys();
          } catch (err) {
            flash("error", (err as Error).message);
          }
        }),
      );
      tr.append(
        cell(String(k.venue)),
        cell(String(k.label ?? "")),
        cell(String(k.keyHint ?? k.walletAddress ?? ""), "mono key-hint"),
        cell(scopes),
        cell(warnings, "warning"),
        cell(status),
        actions,
      );
      return tr;
    }),
  );
  show("#keys-empty", visible.length === 0);
}

function bindKeys() {
  const form = $<HTMLFormElement>("#key-form");
  form.venue.addEventListener("change", () => setKeyFormVenue(form.venue.value));
  setKeyFormVenue(form.venue.value);
  $("#key-cancel").addEventListener("click", resetKeyForm);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const venue = form.venue.value as string;
    const field = (name: string) => {
      const v = String(data.get(name) ?? "").trim();
      return v === "" ? undefined : v;
    };
    const material =
      venue === "hyperliquid"
        ? { walletAddress: field("walletAddress"), privateKey: field("privateKey") }
        : { apiKey: field("apiKey"), secret: field("secret") };
    const rotateId = field("rotateId");
    const submit = $<HTMLButtonElement>("#key-submit");
    submit.disabled = true;
    try {
      if (rotateId) {
        await api("POST", `/api/keys/${encodeURIComponent(rotateId)}/rotate`, material);
        flash("notice", "Key replaced.");
      } else {
        await api("POST", "/api/keys", { venue, label: field("label"), ...material });
        flash("notice", "Key verified and added.");
      }
      resetKeyForm();
      await loadKeys();
    } catch (err) {
      const refusals = (err as { refusals?: unknown }).refusals;
      flash("error", (err as Error).message + (refusals ? ` ${String(refusals)}` : ""));
    } finally {
      submit.disabled = false;
      // Secrets do not stay in the form after an attempt.
      for (const name of ["secret", "privateKey"]) {
        const input = form.elements.namedItem(name) as HTMLInputElement | null;
        if (input) input.value = "";
      }
    }
  });
}

// ---- sessions -----------------------------------------------------------------------------

const when = (iso: unknown) =>
  typeof iso === "string" ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "";

async function loadSessions() {
  const { sessions } = (await api("GET", "/api/auth/sessions")) as { sessions: Json[] };
  $("#session-rows").replaceChildren(
    ...sessions.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.sessionId = String(s.id);
      const actions = document.createElement("td");
      if (s.current) {
        actions.textContent = "this browser";
      } else {
        actions.append(
          button("Revoke", "secondary", async () => {
            try {
              await api("DELETE", `/api/auth/sessions/${encodeURIComponent(String(s.id))}`);
              await loadSessions();
            } catch (err) {
              flash("error", (err as Error).message);
            }
          }),
        );
      }
      tr.append(
        cell(when(s.createdAt)),
        cell(when(s.lastUsedAt)),
        cell(String(s.ip ?? "")),
        cell(String(s.userAgent ?? "").slice(0, 80)),
        actions,
      );
      return tr;
    }),
  );
}

function bindSessions() {
  $("#revoke-all").addEventListener("click", async () => {
    if (!window.confirm("Sign out every session, this one included?")) return;
    try {
      await api("DELETE", "/api/auth/sessions");
    } finally {
      signedOut("Every session is signed out.");
    }
  });
}

// ---- audit log ----------------------------------------------------------------------------

let auditBefore: string | null = null;

async function loadAudit(fresh: boolean) {
  if (fresh) {
    auditBefore = null;
    $("#audit-rows").replaceChildren();
  }
  const q = auditBefore ? `?limit=25&before=${encodeURIComponent(auditBefore)}` : "?limit=25";
  const page = (await api("GET", `/api/audit${q}`)) as { entries: Json[]; nextBefore: unknown };
  $("#audit-rows").append(
    ...page.entries.map((a) => {
      const tr = document.createElement("tr");
      tr.append(
        cell(when(a.occurredAt)),
        cell(String(a.action ?? "")),
        cell(String(a.venue ?? "")),
        cell(String(a.symbol ?? "")),
        cell(String(a.outcome ?? "")),
        cell(String(a.source ?? "")),
      );
      return tr;
    }),
  );
  auditBefore = typeof page.nextBefore === "string" ? page.nextBefore : null;
  show("#audit-more", auditBefore !== null);
  show("#audit-empty", $("#audit-rows").childElementCount === 0);
}

// ---- alerts -------------------------------------------------------------------------------

const RULE_TITLES: Record<string, string> = {
  rapid_fire: "Rapid-fire opens",
  new_ip: "New IP address",
  new_symbol: "New coin",
};

const list = (v: unknown, field: string): string =>
  Array.isArray(v)
    ? v
        .map((x) => (typeof x === "object" && x !== null ? (x as Json)[field] : x))
        .filter((x) => x !== undefined && x !== null)
        .map(String)
        .join(", ")
    : "";

/** One line about what an anomaly found, from its evidence (the alerts branch's shapes). */
function describeEvidence(rule: string, e: Json): string {
  switch (rule) {
    case "rapid_fire": {
      // Failed opens are attempts, not opens; older findings carry `opens` only.
      const attempts = Number(e.attempts ?? e.opens ?? 0);
      const failed = Number(e.failed ?? 0);
      const filled = Number(e.filled ?? attempts - failed);
      return `${attempts} open attempts (${filled} filled, ${failed} failed) within ${String(e.windowMinutes)} minutes (more than ${String(e.threshold)}).`;
    }
    case "new_ip":
      return `Trade actions from ${list(e.ips, "ip")}, not seen on your account in ${String(e.lookbackDays)} days.`;
    case "new_symbol":
      return `First trade in ${list(e.coins, "coin")}.`;
    default:
      return "";
  }
}

/**
 * An alert as the WebSocket hub delivers it. Two shapes: `{type: "alert", rule, message,
 * createdAt}`, and the alerts branch's `{type: "alert", alert: {id, rule, detectedAt,
 * evidence}}`, which can be answered ("this was me" / "not me").
 */
function alertItem(event: Json): HTMLLIElement {
  const a = (typeof event.alert === "object" && event.alert !== null ? event.alert : event) as Json;
  const rule = String(a.rule ?? a.kind ?? "alert");
  const at = a.detectedAt ?? a.createdAt;
  const message =
    typeof a.message === "string" ? a.message : describeEvidence(rule, (a.evidence ?? {}) as Json);
  const li = document.createElement("li");
  li.className = "alert";
  const strong = document.createElement("strong");
  strong.textContent = RULE_TITLES[rule] ?? rule;
  const text = document.createElement("span");
  text.textContent = ` ${message}`;
  const time = document.createElement("time");
  time.textContent = when(at);
  if (typeof at === "string") time.dateTime = at;
  li.append(strong, text, time);
  if (typeof a.id === "string" || typeof a.id === "number") {
    const id = encodeURIComponent(String(a.id));
    const answered = (text: string) => {
      actions.replaceChildren(text);
    };
    const actions = document.createElement("div");
    actions.append(
      button("This was me", "secondary", async () => {
        try {
          await api("POST", `/api/alerts/${id}/me`);
          answered("Marked as you.");
        } catch (err) {
          flash("error", (err as Error).message);
        }
      }),
      button("Not me: revoke my keys", "danger", async () => {
        if (!window.confirm("Revoke every exchange key of this account now?")) return;
        try {
          const r = await api("POST", `/api/alerts/${id}/not-me`);
          answered(`Keys revoked: ${Array.isArray(r.revoked) ? r.revoked.length : 0}.`);
          await loadKeys();
        } catch (err) {
          flash("error", (err as Error).message);
        }
      }),
    );
    li.append(actions);
  }
  return li;
}

const CHANNEL_LABELS: Record<string, string> = {
  telegram: "Telegram",
  email: "Email",
  websocket: "This page (live)",
};
let prefs: Record<string, boolean> = {};

/**
 * GET /api/alerts (the alerts branch): `{preferences: {telegram, email, websocket}}`, one
 * checkbox per channel; PUT sends the same booleans. Switching a channel off silences alerts,
 * so the server asks for a step-up (S4.5), which api() handles.
 */
async function loadAlerts() {
  let body: Json;
  try {
    body = await api("GET", "/api/alerts");
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 501)) {
      show("#alert-prefs-form", false);
      show("#alert-prefs-unavailable", true);
      return;
    }
    throw err;
  }
  prefs = Object.fromEntries(
    Object.entries((body.preferences ?? {}) as Json).filter(
      (e): e is [string, boolean] => typeof e[1] === "boolean",
    ),
  );
  $("#alert-prefs").replaceChildren(
    ...Object.entries(prefs).map(([channel, on]) => {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "checkbox";
      input.name = channel;
      input.checked = on;
      label.append(input, ` ${CHANNEL_LABELS[channel] ?? channel}`);
      return label;
    }),
  );
  show("#alert-prefs-form", true);
  show("#alert-prefs-unavailable", false);
  const recent = Array.isArray(body.recent) ? (body.recent as Json[]) : [];
  $("#alert-history").replaceChildren(...recent.map(alertItem));
  show("#alert-history-empty", recent.length === 0);
}

function bindAlerts() {
  $<HTMLFormElement>("#alert-prefs-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const next: Record<string, boolean> = {};
    for (const channel of Object.keys(prefs)) {
      const input = form.elements.namedItem(channel) as HTMLInputElement | null;
      if (input) next[channel] = input.checked;
    }
    try {
      const r = await api("PUT", "/api/alerts", next);
      if (typeof r.preferences === "object" && r.preferences !== null) {
        prefs = r.preferences as Record<string, boolean>;
      }
      flash("notice", "Alert preferences saved.");
    } catch (err) {
      flash("error", (err as Error).message);
    }
  });
}

// ---- live events over the WebSocket (ticket flow, S5.5) --------------------------------------

let socket: WebSocket | null = null;
let retryTimer: number | undefined;
let retryDelay = 1_000;

function liveStatus(text: string, live: boolean) {
  const el = $("#live-status");
  el.textContent = text;
  el.classList.toggle("live", live);
  show("#live-status", true);
}

function closeLive() {
  window.clearTimeout(retryTimer);
  const s = socket;
  socket = null;
  s?.close(1000, "signed out");
}

async function openLive() {
  if (!accessToken || socket) return;
  let ticket: string;
  try {
    ticket = String((await api("POST", "/api/auth/ws-ticket")).ticket);
  } catch {
    scheduleLive();
    return;
  }
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws`);
  socket = ws;
  ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", ticket })));
  ws.addEventListener("message", (e) => {
    let event: Json;
    try {
      event = JSON.parse(String(e.data)) as Json;
    } catch {
      return;
    }
    if (event.type === "ready") {
      retryDelay = 1_000;
      liveStatus("live", true);
    } else if (event.type === "alert") {
      $("#live-alerts").prepend(alertItem(event));
      show("#live-alerts-empty", false);
    }
  });
  ws.addEventListener("close", () => {
    if (socket !== ws) return; // closed on purpose
    socket = null;
    liveStatus("offline", false);
    scheduleLive();
  });
}

function scheduleLive() {
  if (!accessToken) return;
  window.clearTimeout(retryTimer);
  retryTimer = window.setTimeout(() => void openLive(), retryDelay);
  retryDelay = Math.min(retryDelay * 2, 30_000);
}

// ---- start --------------------------------------------------------------------------------

/** Telegram passes the Mini App's signed initData in the URL fragment as tgWebAppData. */
function telegramInitData(): string | null {
  const hash = new URLSearchParams(location.hash.slice(1));
  return hash.get("tgWebAppData");
}

/** Telegram Web's origins (the frame-ancestors of the Mini App route). */
const TELEGRAM_WEB = [
  "https://web.telegram.org",
  "https://webk.telegram.org",
  "https://webz.telegram.org",
];

/**
 * Tells the Telegram client the Mini App is ready (hides its loading placeholder) without
 * loading Telegram's script from another origin: the apps expose TelegramWebviewProxy, Telegram
 * Web listens for a postMessage from the frame.
 */
function telegramReady() {
  const proxy = (window as { TelegramWebviewProxy?: { postEvent(e: string, d: string): void } })
    .TelegramWebviewProxy;
  if (proxy) {
    proxy.postEvent("web_app_ready", "{}");
  } else if (window.parent !== window) {
    const message = JSON.stringify({ eventType: "web_app_ready", eventData: {} });
    for (const origin of TELEGRAM_WEB) window.parent.postMessage(message, origin);
  }
}

async function start() {
  bindSignIn();
  bindTwoFactor();
  bindKeys();
  bindSessions();
  bindAlerts();
  bindTrading({ api, flash });
  bindOnboarding({
    api,
    post: async (path, body) => parse(await raw("POST", path, body)),
    flash,
    me: () => me,
    setAccessToken: (token) => {
      accessToken = token;
    },
    reloadMe: loadMe,
  });
  $("#audit-more").addEventListener("click", () => void loadAudit(false));
  try {
    const initData = telegramInitData();
    if (initData) {
      telegramReady();
      show("#telegram-view", true);
      // The fragment is not sent anywhere, but it should not linger in history either.
      history.replaceState(null, "", location.pathname);
      const r = await parse(await raw("POST", "/api/auth/telegram", { initData }));
      if (typeof r.challenge === "string") {
        challenge = r.challenge;
        show("#telegram-view", false);
        show("#signin-view", true);
        show("#signin-form", false);
        show("#second-factor-form", true);
        return;
      }
      await signedIn(String(r.accessToken));
      return;
    }
    if ((await refresh()) && accessToken) await signedIn(accessToken);
    else signedOut();
  } catch (err) {
    signedOut();
    flash("error", (err as Error).message);
  }
}

void start();
