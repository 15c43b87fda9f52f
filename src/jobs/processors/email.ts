// The `email` queue: `send` opens a sealed message and hands it to the mailer. A permanent
// refusal fails the job at once; anything else is retried with the queue's backoff.
import { createHash } from "node:crypto";
import { type Job, UnrecoverableError } from "bullmq";
import { type DeliveryRef, type EmailMessage, maskEmail } from "../../domain/accounts/email";
import type { ResetRequest } from "../../domain/accounts/ports";
import type { AccountKeys } from "../../domain/vault";
import type { Logger } from "../../infra/logger";
import { type Mailer, PermanentEmailError } from "../../infra/mailer";
import {
  alertEmailJobId,
  EMAIL_JOB,
  openEmail,
  openResetRequest,
  RESET_REQUEST_JOB,
  sealedEmailData,
} from "../email-outbox";

/** The message id a `send` job recorded when its mail was accepted, if it was. */
function sentMark(progress: unknown): string | undefined {
  if (typeof progress !== "object" || progress === null || !("sent" in progress)) return undefined;
  return String((progress as { sent: unknown }).sent);
}

/**
 * Stable for every attempt at one queued message: a hash of its sealed form (no content). An
 * alert's copy hashes its job id (the copy) instead, so a copy queued again after Redis lost the
 * first job, should the relay have taken that one, carries the same Message-ID.
 */
function messageKey(job: Job): string {
  const data = sealedEmailData.safeParse(job.data).data;
  const ref = data?.ref ? alertEmailJobId(data.ref) : undefined;
  const stable = ref ?? data?.sealed ?? String(job.id);
  return `warden-${createHash("sha256").update(stable).digest("hex").slice(0, 32)}`;
}

/**
 * How one delivery attempt of a message with a DeliveryRef went (`final`: refused for good, or
 * the last attempt failed).
 */
export type EmailAttemptListener = (
  ref: DeliveryRef,
  attempt: number,
  outcome: "sent" | "failed",
  detail?: string,
  final?: boolean,
) => Promise<void>;

export function createEmailProcessor(deps: {
  mailer: Mailer;
  /** Opens sealed mail and reset requests (jobs from before the split: the master ring). */
  accountKeys: AccountKeys;
  logger: Logger;
  /** Told of every attempt of a message that carries a reference (an alert's delivery log). */
  onAttempt?: EmailAttemptListener;
  /** Handles a queued password-reset request (the accounts' recovery use case). */
  resetRequest?: (request: ResetRequest) => Promise<void>;
}) {
  const { logger } = deps;
  const tell = async (
    job: Job,
    attempt: number,
    outcome: "sent" | "failed",
    detail?: string,
    final?: boolean,
  ) => {
    const ref = sealedEmailData.safeParse(job.data).data?.ref;
    if (!ref || !deps.onAttempt) return;
    // The mail's fate does not hang on the log: a failure here is logged, not thrown.
    await deps.onAttempt(ref, attempt, outcome, detail, final).catch((err: unknown) => {
      logger.warn({ jobId: job.id, err }, "could not record the email attempt");
    });
  };
  return async (job: Job): Promise<{ messageId: string } | { done: true }> => {
    switch (job.name) {
      case RESET_REQUEST_JOB: {
        if (!deps.resetRequest) throw new UnrecoverableError("email queue: no reset handler");
        let request: ResetRequest;
        try {
          request = openResetRequest(deps.accountKeys, job.data);
        } catch (err) {
          const reason = err instanceof Error ? err.name : "error";
          throw new UnrecoverableError(`reset job: cannot open the sealed request (${reason})`);
        }
        await deps.resetRequest(request);
        return { done: true };
      }
      case EMAIL_JOB: {
        const message = open(deps.accountKeys, job);
        // Logs name the job and a masked recipient, never the subject or body.
        const to = maskEmail(message.to);
        const attempt = job.attemptsMade + 1;
        // Delivered by a run that died before the job completed (a worker killed right after
        // the relay accepted it): the mark says so, and the mail is not sent a second time.
        const sentBefore = sentMark(job.progress);
        if (sentBefore !== undefined) {
          logger.info({ jobId: job.id, to, attempt }, "email already delivered, not resent");
          return { messageId: sentBefore };
        }
        try {
          const { messageId } = await deps.mailer.deliver(message, { key: messageKey(job) });
          // First thing after the relay's acceptance, so a kill after this cannot resend it.
          await job.updateProgress({ sent: messageId });
          logger.info({ jobId: job.id, to, attempt }, "email delivered");
          await tell(job, attempt, "sent");
          return { messageId };
        } catch (err) {
          const last = attempt >= (job.opts.attempts ?? 1);
          await tell(
            job,
            attempt,
            "failed",
            err instanceof PermanentEmailError
              ? `permanent ${err.responseCode ?? ""}`.trim()
              : `transient ${(err as { responseCode?: number })?.responseCode ?? ""}`.trim(),
            // Refused, or the last attempt: the job gives up, and so does a later resend.
            err instanceof PermanentEmailError || last,
          );
          if (err instanceof PermanentEmailError) {
            logger.warn(
              { jobId: job.id, to, attempt, responseCode: err.responseCode },
              "email refused permanently, not retrying",
            );
            // A bad address fails now instead of holding a worker slot for an hour of retries.
            throw new UnrecoverableError(err.message);
          }
          // The worker logs the error itself; this line adds the masked recipient.
          const reason = err instanceof Error ? err.message : String(err);
          logger.warn(
            { jobId: job.id, to, attempt, reason },
            last ? "email delivery failed, giving up" : "email delivery failed, will retry",
          );
          throw err;
        }
      }
      default:
        throw new UnrecoverableError(`email queue: unknown job "${job.name}"`);
    }
  };
}

function open(keys: AccountKeys, job: Job): EmailMessage {
  const data = sealedEmailData.safeParse(job.data);
  if (!data.success) throw new UnrecoverableError("email job: data is not a sealed message");
  try {
    return openEmail(keys, data.data);
  } catch (err) {
    // A missing key version or a damaged token will not heal by retrying. The reason names the
    // failure class only: the error text never includes the plaintext, but stay terse anyway.
    const reason = err instanceof Error ? err.name : "error";
    throw new UnrecoverableError(`email job: cannot open the sealed message (${reason})`);
  }
}
