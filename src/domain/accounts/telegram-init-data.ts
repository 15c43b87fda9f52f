// Telegram Mini App `initData` (S6.2): verifies Telegram's HMAC over the sorted `key=value`
// lines and the freshness of `auth_date`, and returns the user it vouches for.
import { createHmac } from "node:crypto";
import { safeEqual } from "../shared/safe-equal";

export type InvalidInitDataReason = "malformed" | "bad_hash" | "expired" | "missing_user";

/** The one error of this module; `reason` says why, the message never echoes the input. */
export class InvalidInitData extends Error {
  constructor(readonly reason: InvalidInitDataReason) {
    super(`invalid Telegram initData: ${reason}`);
    this.name = "InvalidInitData";
  }
}

export interface InitDataUser {
  id: number;
  first_name?: string;
  username?: string;
  language_code?: string;
}

export interface VerifiedInitData {
  user: InitDataUser;
  authDate: Date;
  queryId?: string;
}

export interface VerifyInitDataOptions {
  /** The current time in milliseconds (passed in so the core stays pure and testable). */
  now: number;
  /** How old `auth_date` may be; S6.2 caps it at 24 h. */
  maxAgeSeconds?: number;
}

export const INIT_DATA_MAX_AGE_SECONDS = 86_400;
/** Clock skew tolerated for an `auth_date` in the future. */
export const INIT_DATA_MAX_FUTURE_SECONDS = 60;
// Real initData is well under 2 KiB; anything far larger is refused before any hashing.
const MAX_INIT_DATA_LENGTH = 8_192;

function secretKey(botToken: string): Buffer {
  return createHmac("sha256", "WebAppData").update(botToken, "utf8").digest();
}

function dataCheckString(pairs: ReadonlyArray<readonly [string, string]>): string {
  return [...pairs]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
}

function hashOf(pairs: ReadonlyArray<readonly [string, string]>, botToken: string): string {
  return createHmac("sha256", secretKey(botToken))
    .update(dataCheckString(pairs), "utf8")
    .digest("hex");
}

function optionalString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function parseUser(raw: string | undefined): InitDataUser {
  if (raw === undefined) throw new InvalidInitData("missing_user");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidInitData("malformed");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new InvalidInitData("malformed");
  }
  const fields = parsed as Record<string, unknown>;
  const id = fields.id;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id <= 0) {
    throw new InvalidInitData("missing_user");
  }
  const user: InitDataUser = { id };
  const firstName = optionalString(fields.first_name);
  const username = optionalString(fields.username);
  const languageCode = optionalString(fields.language_code);
  if (firstName !== undefined) user.first_name = firstName;
  if (username !== undefined) user.username = username;
  if (languageCode !== undefined) user.language_code = languageCode;
  return user;
}

/**
 * Verifies `initData` exactly as Telegram specifies: every pair but `hash` (including
 * `signature`), URL-decoded, sorted by key, joined `key=value` with "\n", HMAC-SHA256'd under
 * HMAC-SHA256("WebAppData", botToken), compared in constant time. The signature is checked
 * before anything inside is trusted; then `auth_date` must be at most `maxAgeSeconds` old and
 * at most 60 s ahead. Throws `InvalidInitData` otherwise.
 */
export function verifyInitData(
  initData: string,
  botToken: string,
  opts: VerifyInitDataOptions,
): VerifiedInitData {
  if (typeof initData !== "string" || initData.length === 0) {
    throw new InvalidInitData("malformed");
  }
  if (initData.length > MAX_INIT_DATA_LENGTH) throw new InvalidInitData("malformed");

  const pairs: Array<[string, string]> = [];
  const seen = new Set<string>();
  let hash: string | undefined;
  for (const [key, value] of new URLSearchParams(initData)) {
    // A repeated key would make the signed content ambiguous (which value did Telegram mean?).
    if (seen.has(key)) throw new InvalidInitData("malformed");
    seen.add(key);
    if (key === "hash") hash = value;
    else pairs.push([key, value]);
  }
  if (hash === undefined || !/^[0-9a-f]{64}$/i.test(hash)) throw new InvalidInitData("malformed");
  if (!safeEqual(hashOf(pairs, botToken), hash.toLowerCase())) {
    throw new InvalidInitData("bad_hash");
  }

  const fields = new Map(pairs);
  const authDateRaw = fields.get("auth_date");
  if (authDateRaw === undefined || !/^\d{1,12}$/.test(authDateRaw)) {
    throw new InvalidInitData("malformed");
  }
  const authSeconds = Number(authDateRaw);
  const nowSeconds = opts.now / 1000;
  const maxAge = opts.maxAgeSeconds ?? INIT_DATA_MAX_AGE_SECONDS;
  if (
    nowSeconds - authSeconds > maxAge ||
    authSeconds - nowSeconds > INIT_DATA_MAX_FUTURE_SECONDS
  ) {
    throw new InvalidInitData("expired");
  }

  const user = parseUser(fields.get("user"));
  const result: VerifiedInitData = { user, authDate: new Date(authSeconds * 1000) };
  const queryId = fields.get("query_id");
  if (queryId !== undefined) result.queryId = queryId;
  return result;
}

export type InitDataFields = Record<string, string | number | boolean | object>;

/**
 * Builds a valid, URL-encoded `initData` string signed with `botToken`, as Telegram would:
 * for tests and the local sandbox. Object values (the `user`) are JSON-encoded.
 */
export function signInitData(fields: InitDataFields, botToken: string): string {
  const pairs: Array<[string, string]> = Object.entries(fields)
    .filter(([key]) => key !== "hash")
    .map(([key, value]) => [
      key,
      typeof value === "object" ? JSON.stringify(value) : String(value),
    ]);
  const params = new URLSearchParams(pairs);
  params.append("hash", hashOf(pairs, botToken));
  return params.toString();
}
