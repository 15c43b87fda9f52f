// The kill switch: operators pause trade actions for everyone or for one user. The trading use
// cases read the state on every action through the PauseStore port, and refuse when it cannot
// be read (fail safe). Opens and modifications are always refused while paused; closes only
// when the pause says so, because closing reduces risk and is what a user wants most in an
// incident — an operator who distrusts the venue path itself pauses with `blocksClose`.
import type { SecurityEvent } from "../accounts/repo";

export type PauseTarget = { scope: "global" } | { scope: "user"; userId: string };

/** Who pulled the switch; stored with the pause and in the security event. */
export type PauseActor = { via: "cli" } | { via: "telegram"; adminUserId: string };

export interface ActivePause {
  /** null for the global pause. */
  userId: string | null;
  reason: string | null;
  blocksClose: boolean;
  pausedAt: Date;
  pausedBy: PauseActor;
}

export interface PauseStore {
  /** The pauses that apply to this user (the global one and the user's own). Throws if unknown. */
  activeFor(userId: string): Promise<ActivePause[]>;
  /** Creates or replaces the pause of this target; false when the user does not exist. */
  set(
    target: PauseTarget,
    pause: { reason: string | null; blocksClose: boolean; by: PauseActor },
  ): Promise<"created" | "updated" | "no_user">;
  /** Removes the pause of this target; false when there was none. */
  clear(target: PauseTarget): Promise<boolean>;
  list(): Promise<ActivePause[]>;
}

export type PausedAction = "open" | "modify" | "close";

/** The pause that refuses `action` for this user, if any (the global one first). */
export function blockingPause(
  pauses: readonly ActivePause[],
  action: PausedAction,
): ActivePause | undefined {
  const applies = pauses.filter((p) => action !== "close" || p.blocksClose);
  return applies.find((p) => p.userId === null) ?? applies[0];
}

export function pausedMessage(p: ActivePause): string {
  const who =
    p.userId === null
      ? "Trading is paused by Warden's operators"
      : "Trading on your account is paused by an administrator";
  const what = p.blocksClose
    ? "no trade action is accepted for now."
    : "opening and changing trades is refused for now. You can still close positions.";
  return `⏸ ${who}: ${what}`;
}

export const REASON_MAX = 500;

export interface KillSwitchDeps {
  store: PauseStore;
  recordEvent: (e: SecurityEvent) => Promise<void>;
}

export class KillSwitchError extends Error {
  constructor(
    readonly code: "no_user" | "bad_reason",
    message: string,
  ) {
    super(message);
    this.name = "KillSwitchError";
  }
}

export function createKillSwitch(deps: KillSwitchDeps) {
  const describe = (t: PauseTarget) => (t.scope === "global" ? "global" : `user ${t.userId}`);
  return {
    async pause(
      actor: PauseActor,
      target: PauseTarget,
      opts: { reason?: string; blocksClose?: boolean } = {},
    ) {
      const reason = opts.reason?.trim() || null;
      if (reason !== null && reason.length > REASON_MAX) {
        throw new KillSwitchError(
          "bad_reason",
          `The reason may be at most ${REASON_MAX} characters.`,
        );
      }
      const blocksClose = opts.blocksClose ?? false;
      const result = await deps.store.set(target, { reason, blocksClose, by: actor });
      if (result === "no_user") {
        throw new KillSwitchError("no_user", `No user #${(target as { userId: string }).userId}.`);
      }
      await deps.recordEvent({
        userId: target.scope === "user" ? target.userId : null,
        kind: "trading_paused",
        outcome: "ok",
        details: { target: describe(target), by: actor, reason, blocksClose, result },
      });
      return { result, blocksClose };
    },

    async resume(actor: PauseActor, target: PauseTarget) {
      const removed = await deps.store.clear(target);
      await deps.recordEvent({
        userId: target.scope === "user" ? target.userId : null,
        kind: "trading_resumed",
        outcome: removed ? "ok" : "refused",
        details: {
          target: describe(target),
          by: actor,
          ...(removed ? {} : { note: "not paused" }),
        },
      });
      return { removed };
    },

    status: () => deps.store.list(),
  };
}

export type KillSwitch = ReturnType<typeof createKillSwitch>;
