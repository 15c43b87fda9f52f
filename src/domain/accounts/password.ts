// Password rules (S2): the length policy, peppered pre-hashing in front of a slow hasher port,
// a dummy verify for unknown users (S3.1), and the breach-check decision with its fail mode.
import { createHmac } from "node:crypto";
import { AccountError } from "./errors";

export const PASSWORD_MIN_CODE_POINTS = 8;
export const PASSWORD_MAX_CODE_POINTS = 128;

/** The slow, salted hash (bcrypt in production). It only ever sees pre-hashed input. */
export interface PasswordHasher {
  hash(prehashed: string): Promise<string>;
  verify(prehashed: string, hash: string): Promise<boolean>;
}

export interface PasswordDeps {
  hasher: PasswordHasher;
  /** PASSWORD_PEPPER: lives only in configuration, so a leaked database alone cannot be cracked. */
  pepper: Buffer;
}

/**
 * A bcrypt hash at the production cost (12) of a random value nobody knows. Verifying against it
 * costs what a real verify costs, so an unknown user cannot be told apart by timing (S3.1).
 * If the production cost changes, pass a matching `dummyHash` to dummyVerify.
 */
export const DUMMY_PASSWORD_HASH = "$2b$12$.gMzoHa9ijqRZVZPBivCROlN94Q8QzuoTZzJR2RbOOscStDFmstIi";

/** Code points after NFC, so "é" typed precomposed or as e + combining accent counts the same. */
export function passwordLength(password: string): number {
  return [...password.normalize("NFC")].length;
}

/** Throws `password_too_short` / `password_too_long`; no composition rules on purpose (S2.2). */
export function assertPasswordPolicy(password: string): void {
  const length = passwordLength(password);
  if (length < PASSWORD_MIN_CODE_POINTS) throw new AccountError("password_too_short");
  if (length > PASSWORD_MAX_CODE_POINTS) throw new AccountError("password_too_long");
}

/**
 * base64(HMAC-SHA-256(pepper, NFC(password))): always 44 ASCII bytes, so bcrypt's 72-byte
 * limit never truncates a long password, and no NUL byte can end its input early.
 */
export function prehashPassword(pepper: Buffer, password: string): string {
  if (pepper.length === 0) throw new Error("password pepper is empty");
  return createHmac("sha256", pepper).update(password.normalize("NFC"), "utf8").digest("base64");
}

/** Checks the policy, then returns the hash to store. The breach check is checkNotBreached. */
export async function hashPassword(deps: PasswordDeps, password: string): Promise<string> {
  assertPasswordPolicy(password);
  return deps.hasher.hash(prehashPassword(deps.pepper, password));
}

/** No policy check here: a stored password is verified as it is, whatever the rules became. */
export async function verifyPassword(
  deps: PasswordDeps,
  password: string,
  hash: string,
): Promise<boolean> {
  return deps.hasher.verify(prehashPassword(deps.pepper, password), hash);
}

/** For an unknown user: the same work as verifyPassword, and always false. */
export async function dummyVerify(
  deps: PasswordDeps & { dummyHash?: string },
  password = "",
): Promise<false> {
  await deps.hasher.verify(
    prehashPassword(deps.pepper, password),
    deps.dummyHash ?? DUMMY_PASSWORD_HASH,
  );
  return false;
}

/** Have-I-Been-Pwned (or any breach corpus) behind a port. */
export interface BreachChecker {
  /**
   * How many times the password appears in known breaches (0: never). Throws
   * BreachCheckUnavailable when the corpus cannot be asked.
   */
  timesBreached(password: string): Promise<number>;
}

/** The breach corpus could not be asked (timeout, network, bad status). Never names the password. */
export class BreachCheckUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BreachCheckUnavailable";
  }
}

export type BreachFailMode = "closed" | "open";

export interface BreachCheckUnavailableReport {
  failMode: BreachFailMode;
  /** What the password decision was: refused (closed) or allowed unchecked (open). */
  outcome: "refused" | "allowed_unchecked";
  reason: string;
}

export interface BreachCheckDeps {
  checker: BreachChecker;
  /** HIBP_FAIL_MODE: "closed" refuses when the check cannot run, "open" lets the password pass. */
  failMode: BreachFailMode;
  /** Called whenever the check could not run, so the caller can log it (S2.3). */
  onUnavailable: (report: BreachCheckUnavailableReport) => void;
}

/** `password_breached` with the count the user is shown (public corpus data, not a secret). */
export function breachedError(times: number): AccountError {
  const n = times.toLocaleString("en-US");
  return new AccountError(
    "password_breached",
    `This password appears in known data breaches (breached ${n} time${times === 1 ? "" : "s"}). Please choose a different one.`,
    undefined,
    times,
  );
}

/**
 * Throws `password_breached`, or `breach_check_unavailable` when the corpus is unreachable and
 * the fail mode is closed. Resolves "unchecked" when it was unreachable and the mode is open.
 * Other errors from the checker are bugs and propagate rather than being treated as outages.
 */
export async function checkNotBreached(
  deps: BreachCheckDeps,
  password: string,
): Promise<"not_breached" | "unchecked"> {
  let breached: number;
  try {
    breached = await deps.checker.timesBreached(password);
  } catch (err) {
    if (!(err instanceof BreachCheckUnavailable)) throw err;
    const refused = deps.failMode === "closed";
    deps.onUnavailable({
      failMode: deps.failMode,
      outcome: refused ? "refused" : "allowed_unchecked",
      reason: err.message,
    });
    if (refused) throw new AccountError("breach_check_unavailable");
    return "unchecked";
  }
  if (breached > 0) throw breachedError(breached);
  return "not_breached";
}
