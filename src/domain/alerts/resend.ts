// Copies lost in transit (issue 18): a delivered finding's Telegram or email copy whose queued job
// vanished (Redis restarted empty) is handed over again once its log has been quiet for a while.
import { type DispatchDeps, dispatchAlert } from "./alerts";

/**
 * How long a copy's log must stay quiet (no hand-off, no attempt) before a resend looks at it.
 * Longer than a busy fan-out takes to reach a copy; a copy whose job is still queued is left
 * alone anyway (its job id is the copy's), so a short grace costs queries, not duplicates.
 */
export const RESEND_AFTER_MS = 5 * 60_000;
/** A finding none of whose Telegram or email copies was logged within this is not looked at again. */
export const RESEND_WITHIN_MS = 24 * 3600_000;
/** Findings per scan; the rest wait for the next one. */
const RESEND_BATCH = 200;

export interface ResendReport {
  /** Findings with a copy still unsent after the grace (handed over again unless still queued). */
  findings: number;
  /** Of those, the ones whose resend failed (retried at the next scan). */
  failed: number;
}

export async function resendLostCopies(deps: DispatchDeps): Promise<ResendReport> {
  const ids = await deps.store.lostCopies(
    deps.resendAfterMs ?? RESEND_AFTER_MS,
    RESEND_WITHIN_MS,
    RESEND_BATCH,
  );
  let failed = 0;
  for (const id of ids) {
    try {
      await dispatchAlert(deps, id, { resend: true });
    } catch {
      // Logged as a failed hand-off of that copy; the next scan finds it again.
      failed += 1;
    }
  }
  return { findings: ids.length, failed };
}
