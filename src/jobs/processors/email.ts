// The `email` queue: `send` opens a sealed message and hands it to the mailer. A permanent
// refusal fails the job at once; anything else is retried with the queue's backoff.
import { type Job, UnrecoverableError } from "bullmq";
import { type EmailMessage, maskEmail } from "../../domain/accounts/email";
import type { KeyRing } from "../../domain/vault";
import type { Logger } from "../../infra/logger";
import { type Mailer, PermanentEmailError } from "../../infra/mailer";
import { EMAIL_JOB, openEmail, sealedEmailData } from "../email-outbox";

export function createEmailProcessor(deps: { mailer: Mailer; keyRing: KeyRing; logger: Logger }) {
  const { logger } = deps;
  return async (job: Job): Promise<{ messageId: string }> => {
    switch (job.name) {
      case EMAIL_JOB: {
        const message = open(deps.keyRing, job);
        // Logs name the job and a masked recipient, never the subject or body.
        const to = maskEmail(message.to);
        const attempt = job.attemptsMade + 1;
        try {
          const { messageId } = await deps.mailer.deliver(message);
          logger.info({ jobId: job.id, to, attempt }, "email delivered");
          return { messageId };
        } catch (err) {
          if (err instanceof PermanentEmailError) {
            logger.warn(
              { jobId: job.id, to, attempt, responseCode: err.responseCode },
              "email refused permanently, not retrying",
            );
            // A bad address fails now instead of holding a worker slot for an hour of retries.
            throw new UnrecoverableError(err.message);
          }
          const last = attempt >= (job.opts.attempts ?? 1);
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

function open(keyRing: KeyRing, job: Job): EmailMessage {
  const data = sealedEmailData.safeParse(job.data);
  if (!data.success) throw new UnrecoverableError("email job: data is not a sealed message");
  try {
    return openEmail(keyRing, data.data);
  } catch (err) {
    // A missing key version or a damaged token will not heal by retrying. The reason names the
    // failure class only: the error text never includes the plaintext, but stay terse anyway.
    const reason = err instanceof Error ? err.name : "error";
    throw new UnrecoverableError(`email job: cannot open the sealed message (${reason})`);
  }
}
