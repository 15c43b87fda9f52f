// What the accounts core needs from outside, as small interfaces; adapters live in src/infra.

/**
 * One-time tokens (reset links, WebSocket tickets, link codes, login challenges): only a hash of
 * the token is stored, with a TTL, and consuming it is atomic, so a token works once even when
 * two requests race (S5.1, S5.5).
 */
export interface OneTimeTokenStore {
  /**
   * Stores `payload` under a fresh random token (≥ 128 bits) and returns the token. With a
   * `subject`, any token of the same kind issued earlier to that subject stops working.
   */
  issue(kind: string, payload: unknown, ttlSeconds: number, subject?: string): Promise<string>;
  /** The payload without using the token up (a challenge that allows a few attempts). */
  peek(kind: string, token: string): Promise<unknown>;
  /** The payload, exactly once; null when unknown, expired, voided or already used. */
  consume(kind: string, token: string): Promise<unknown>;
  /** Voids the subject's outstanding token of this kind (password or email change). */
  voidSubject(kind: string, subject: string): Promise<void>;
}

/** A password-reset request as queued: the address and the requester's IP, nothing else. */
export interface ResetRequest {
  email: string;
  ip: string | null;
}

/**
 * Account work done later by a worker, so an answer takes the same time whatever the outcome
 * (a reset request for an email that has an account or not: S5.1).
 */
export interface DeferredAccountWork {
  resetRequest(request: ResetRequest): Promise<void>;
}

/** Live connections follow their session: told when sessions end (S5.5). */
export interface SessionEndListener {
  /** `sessionId` null: every session of the user. */
  sessionsEnded(userId: string, sessionId: string | null): Promise<void>;
}
