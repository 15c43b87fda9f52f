// What the bot waits for from a user (a 2FA code, say), kept in Redis with a short TTL. Only the
// expected kind of input and message ids are stored — never the input itself (STYLE.md 8).
import type { Redis } from "ioredis";
import type { VenueId } from "../domain/venues/types";

export type Pending =
  | { kind: "2fa_confirm"; messageIds: number[] }
  | { kind: "2fa_off" }
  | { kind: "2fa_codes" }
  | { kind: "admin_verify" }
  /** A claimed web link code: which account to link, once the user confirms. */
  | { kind: "link_confirm"; userId: string }
  /** Waiting for a 2FA code before `next` (step-up for a key action). */
  | { kind: "step_up"; next: KeyAction }
  /** Waiting for a 2FA code before an alerts action (silencing a channel, "not me"). */
  | { kind: "alerts_step_up"; next: AlertAction }
  /** Waiting for pasted key material; the material itself is never stored. */
  | {
      kind: "key_material";
      action: "connect" | "rotate";
      venue: VenueId;
      credentialId?: string;
      /** A key of the venue's test network (connect only; a rotation keeps the key's network). */
      testnet?: boolean;
    };

export type KeyAction =
  | { action: "connect"; venue: VenueId; testnet?: boolean }
  | { action: "rotate"; venue: VenueId; credentialId: string }
  | { action: "revoke"; credentialId: string }
  /** Cross or isolated margin for a Hyperliquid key's orders. */
  | { action: "margin_mode"; credentialId: string; mode: "cross" | "isolated" };

export type AlertAction =
  | { action: "silence"; channel: "telegram" | "email" | "websocket" }
  | { action: "not_me"; anomalyId: string };

export interface PendingStore {
  get(userId: number): Promise<Pending | null>;
  set(userId: number, pending: Pending, ttlSeconds?: number): Promise<void>;
  clear(userId: number): Promise<void>;
}

export function createPendingStore(redis: Redis): PendingStore {
  const key = (id: number) => `bot:pending:${id}`;
  return {
    async get(userId) {
      const raw = await redis.get(key(userId));
      return raw ? (JSON.parse(raw) as Pending) : null;
    },
    async set(userId, pending, ttlSeconds = 600) {
      await redis.set(key(userId), JSON.stringify(pending), "EX", ttlSeconds);
    },
    async clear(userId) {
      await redis.del(key(userId));
    },
  };
}

/** Marks that the user passed a 2FA code in the bot, for step-up (5 min) or admin (12 h). */
export function createBotVerifications(redis: Redis) {
  const key = (kind: string, id: string) => `bot:verified:${kind}:${id}`;
  return {
    async mark(kind: "step_up" | "admin", userId: string, ttlMs: number) {
      await redis.set(key(kind, userId), String(Date.now()), "PX", ttlMs);
    },
    async until(kind: "step_up" | "admin", userId: string): Promise<Date | null> {
      const ttl = await redis.pttl(key(kind, userId));
      return ttl > 0 ? new Date(Date.now() + ttl) : null;
    },
  };
}
export type BotVerifications = ReturnType<typeof createBotVerifications>;
