// Shared helpers for the /api/auth acceptance tests: a small HTTP client against the real
// running service (one client IP per test through X-Forwarded-For from the trusted loopback
// proxy, so per-IP limits of one test never touch another), RFC 6238 codes computed
// independently of the implementation, and a record of every secret a test handled and of
// every response, for the file's closing no-leak and Cache-Control checks.
import { createHash, randomBytes } from "node:crypto";
import pg from "pg";
import { expect } from "vitest";
import { confirmationToken } from "../../support/email-confirmation";
import { scanPostgres, scanRedis } from "../../support/secret-scan";
import { roomInStep, stepNow, totpAt } from "../../support/totp";
import type { TestWarden } from "../../support/warden-harness";

export const API = "/api/auth";
export const COOKIE = "__Secure-warden_refresh";

export interface Res<T = Record<string, unknown>> {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
  body: T & Record<string, any>;
  headers: Headers;
  setCookies: string[];
  /** The refresh token set by this response, when there is one (not a clearing cookie). */
  refresh: string | undefined;
}

export interface RequestOptions {
  token?: string;
  /** The refresh token to send as the cookie. */
  cookie?: string;
  /** `Origin` header; undefined sends none. */
  origin?: string;
  headers?: Record<string, string>;
  /** Raw body instead of JSON. */
  raw?: string;
}

/** Everything the no-leak checks at the end of a file look for. */
export interface Secrets {
  /** Long secrets: passwords, TOTP secrets, backup codes, tokens, tickets, challenges. */
  strings: Set<string>;
  /** 6-digit TOTP codes: looked for only as whole numbers, not inside longer digit runs. */
  codes: Set<string>;
}

export interface Recorded {
  method: string;
  path: string;
  status: number;
  cacheControl: string | null;
}

export function createSecrets(): Secrets {
  return { strings: new Set(), codes: new Set() };
}

let ipCounter = 0;
/** A client address of its own (TEST-NET-2/3), for one test's requests. */
export function freshIp(): string {
  ipCounter += 1;
  return `198.51.${100 + Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

export function uniqueEmail(tag: string): string {
  return `${tag}-${randomBytes(5).toString("hex")}@example.com`;
}

/** A random password nobody has breached. */
export function newPassword(): string {
  return `pw-${randomBytes(12).toString("base64url")}`;
}

export class AuthClient {
  readonly responses: Recorded[] = [];
  constructor(
    readonly w: TestWarden,
    readonly secrets: Secrets,
  ) {}

  /** A view of this client that sends every request as coming from `ip`. */
  as(ip: string): Caller {
    return new Caller(this, ip);
  }
}

export class Caller {
  constructor(
    readonly client: AuthClient,
    readonly ip: string,
  ) {}

  get w(): TestWarden {
    return this.client.w;
  }

  async request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    opts: RequestOptions = {},
  ): Promise<Res<T>> {
    const headers: Record<string, string> = {
      "X-Forwarded-For": this.ip,
      "User-Agent": "warden-acceptance-test",
      ...opts.headers,
    };
    if (body !== undefined || opts.raw !== undefined) headers["Content-Type"] = "application/json";
    if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
    if (opts.cookie !== undefined) headers.Cookie = `${COOKIE}=${opts.cookie}`;
    if (opts.origin !== undefined) headers.Origin = opts.origin;
    const res = await fetch(`${this.w.base}${API}${path}`, {
      method,
      headers,
      body: opts.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await res.text();
    let parsed: unknown = {};
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { _raw: text };
      }
    }
    const setCookies = res.headers.getSetCookie();
    const refresh = refreshOf(setCookies);
    this.client.responses.push({
      method,
      path,
      status: res.status,
      cacheControl: res.headers.get("cache-control"),
    });
    const out = {
      status: res.status,
      body: parsed as T,
      headers: res.headers,
      setCookies,
      refresh,
    };
    remember(this.client.secrets, out.body as Record<string, unknown>);
    if (refresh) this.client.secrets.strings.add(refresh);
    return out as Res<T>;
  }

  post<T = Record<string, unknown>>(path: string, body?: unknown, opts?: RequestOptions) {
    return this.request<T>("POST", path, body ?? {}, opts);
  }

  get<T = Record<string, unknown>>(path: string, opts?: RequestOptions) {
    return this.request<T>("GET", path, undefined, opts);
  }

  delete<T = Record<string, unknown>>(path: string, opts?: RequestOptions) {
    return this.request<T>("DELETE", path, undefined, opts);
  }

  /** Registers a fresh account (202 asserted) and confirms it from the mailed link. */
  async register(email = uniqueEmail("user"), password = newPassword()) {
    this.client.secrets.strings.add(password);
    const res = await this.post("/register", { email, password });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const token = await confirmationToken(this.w.smtp, email.toLowerCase());
    this.client.secrets.strings.add(token);
    const confirmed = await this.post("/email/confirm", { token });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    const [row] = await sql<{ id: string }>(
      this.w,
      "select id::text as id from users where email = $1",
      [email.toLowerCase()],
    );
    return { id: row!.id, email, password };
  }

  /** Signs in without 2FA (200 and a refresh cookie asserted). */
  async login(email: string, password: string) {
    const res = await this.post<{ accessToken: string; expiresIn: number }>("/login", {
      email,
      password,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.refresh).toBeDefined();
    return { accessToken: res.body.accessToken, refresh: res.refresh as string, res };
  }

  /** A new account, signed in and stepped up (step-up is earned, never born). */
  async signedUp(tag = "user") {
    const account = await this.register(uniqueEmail(tag));
    const session = await this.login(account.email, account.password);
    await this.stepUp(session.accessToken, account.password);
    return { ...account, ...session };
  }

  /** POST /step-up with the password (and code); 200 asserted. */
  async stepUp(token: string, password: string, code?: string) {
    const res = await this.post("/step-up", { password, code }, { token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }

  /** POST /refresh with the cookie; `origin` null sends no Origin header. */
  refresh(cookie: string | undefined, origin: string | null = this.w.origin) {
    return this.post<{ accessToken: string; expiresIn: number }>("/refresh", undefined, {
      cookie,
      origin: origin ?? undefined,
    });
  }

  /** 200 when the access token is accepted, else the refusal. */
  sessions(token: string) {
    return this.get<{ sessions: SessionView[] }>("/sessions", { token });
  }
}

export interface SessionView {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

const SECRET_FIELDS = [
  "accessToken",
  "challenge",
  "secret",
  "ticket",
  "code",
  "token",
  "password",
  "newPassword",
  "currentPassword",
];

function remember(secrets: Secrets, body: Record<string, unknown> | null | undefined) {
  if (!body || typeof body !== "object") return;
  for (const field of SECRET_FIELDS) {
    const v = body[field];
    if (typeof v === "string" && v.length >= 8) secrets.strings.add(v);
  }
  const codes = body.backupCodes;
  if (Array.isArray(codes)) {
    for (const c of codes) {
      if (typeof c === "string") {
        secrets.strings.add(c);
        secrets.strings.add(c.replace(/-/g, ""));
      }
    }
  }
}

export function refreshOf(setCookies: string[]): string | undefined {
  for (const c of setCookies) {
    const m = new RegExp(`^${COOKIE}=([^;]*)`).exec(c);
    if (m?.[1]) return decodeURIComponent(m[1]);
  }
  return undefined;
}

/** The exact cookie S5.3 asks for. */
export function expectedRefreshCookie(token: string): string {
  return `${COOKIE}=${token}; HttpOnly; Secure; SameSite=Strict; Path=/api/auth`;
}

export const CLEARED_COOKIE = `${COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/api/auth; Max-Age=0`;

export function errorBody(error: string, message: string) {
  return { error, message };
}

export const MESSAGES = {
  invalid_credentials: "Wrong email or password.",
  invalid_token: "Your session is not valid. Please sign in again.",
  token_expired: "Your session has expired. Please sign in again.",
  rate_limited: "Too many attempts. Please wait and try again.",
  reauth_required: "Confirm it is you: enter your password and current 2FA code again.",
  invalid_totp:
    "That code is not valid. Enter the current 6-digit code from your authenticator app.",
  totp_replayed: "That code was already used. Wait for the next code and try again.",
  invalid_backup_code: "That backup code is not valid or was already used.",
  invalid_challenge: "This sign-in step has expired. Please sign in again.",
  invalid_reset_token: "This reset link is invalid, expired or already used. Request a new one.",
  password_too_short: "Password must be at least 8 characters.",
  password_too_long: "Password must be at most 128 characters.",
  breach_check_unavailable:
    "We could not check this password against known breaches right now. Please try again shortly.",
  email_taken: "An account with this email already exists. Sign in or reset your password.",
  invalid_email: "Enter a valid email address.",
  admin_cannot_disable_2fa: "Admin accounts cannot turn off two-factor authentication.",
  session_not_found: "No such session.",
  origin_not_allowed: "Refresh is only allowed from Warden's own pages.",
} as const;

export function err(code: keyof typeof MESSAGES) {
  return { error: code, message: MESSAGES[code] };
}

/**
 * A breached password's refusal, with how often it was breached: the harness's HIBP server
 * counts its breached list from 1000 ("password123" 1000, "correct horse battery staple" 1001).
 */
export function breachedErr(times: number) {
  return {
    error: "password_breached",
    message: `This password appears in known data breaches (breached ${times.toLocaleString("en-US")} times). Please choose a different one.`,
    breachCount: times,
  };
}

// ---- TOTP (RFC 6238, independent of otplib: test/support/totp.ts) -----------------------------

export { roomInStep, stepNow, totpAt };

/** A well-formed 6-digit code that is not valid at any step in `step - 2 … step + 2`. */
export function wrongCode(secret: string, step: number): string {
  const taken = new Set([-2, -1, 0, 1, 2].map((d) => totpAt(secret, step + d)));
  for (let n = 123_456; ; n++) {
    const c = String(n % 1_000_000).padStart(6, "0");
    if (!taken.has(c)) return c;
  }
}

// ---- Direct checks ---------------------------------------------------------------------------

export async function sql<T = Record<string, unknown>>(
  w: TestWarden,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: w.db.url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

export const sha256Hex = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
export const sha1Hex = (s: string) =>
  createHash("sha1").update(s, "utf8").digest("hex").toUpperCase();

/** The secrets found in `text`; TOTP codes only as whole numbers. */
export function leaksIn(text: string, secrets: Secrets): string[] {
  const found: string[] = [];
  for (const s of secrets.strings) if (text.includes(s)) found.push(s);
  for (const c of secrets.codes) {
    if (new RegExp(`(?<![0-9])${c}(?![0-9])`).test(text)) found.push(c);
  }
  return found;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Environment every acceptance file runs with: the loopback is the trusted proxy (S3.3). */
export const TRUSTED_LOOPBACK = { TRUSTED_PROXIES: "127.0.0.1,::1" };

/**
 * The closing checks of every file (S1.1, S9.1): no secret this file handled is in the log, in
 * PostgreSQL or in Redis, and every auth response carried `Cache-Control: no-store`.
 */
export async function expectNoLeaksAndNoStore(w: TestWarden, client: AuthClient) {
  const { secrets } = client;
  expect(secrets.strings.size).toBeGreaterThan(0);
  expect(leaksIn(w.logs.text(), secrets)).toEqual([]);
  const needles = [...secrets.strings];
  expect(await scanPostgres(w.db.url, needles)).toEqual([]);
  expect(await scanRedis(w.redis.url, w.redis.prefix, needles)).toEqual([]);
  expect(client.responses.length).toBeGreaterThan(0);
  expect(client.responses.filter((r) => r.cacheControl !== "no-store")).toEqual([]);
}
