// The EmailOutbox port over the `email` queue. A message is sealed with the master key ring
// before it enters Redis: reset links are secrets and addresses personal data (S1.1).
import type { Queue } from "bullmq";
import { z } from "zod";
import type { DeliveryRef, EmailMessage, EmailOutbox } from "../domain/accounts/email";
import type { DeferredAccountWork, ResetRequest } from "../domain/accounts/ports";
import type { KeyRing } from "../domain/vault";

export const EMAIL_JOB = "send";

const id = z.string().regex(/^\d{1,19}$/);

/**
 * All a `send` job carries: a Fernet token of the message's JSON and the key version, and for
 * an alert the ids its delivery log is kept under.
 */
export const sealedEmailData = z.object({
  sealed: z.string().min(1),
  version: z.number().int().positive(),
  ref: z
    .object({
      kind: z.literal("alert"),
      id,
      audience: z.enum(["user", "admin"]),
      recipient: id.nullable(),
    })
    .optional(),
});
export type SealedEmail = z.infer<typeof sealedEmailData>;

const emailMessage = z.object({
  to: z.string(),
  subject: z.string(),
  text: z.string(),
  html: z.string().optional(),
});

export function sealEmail(keyRing: KeyRing, message: EmailMessage): SealedEmail {
  const plaintext = Buffer.from(JSON.stringify(message), "utf8");
  try {
    const { token, version } = keyRing.encrypt(plaintext);
    return { sealed: token, version };
  } finally {
    plaintext.fill(0);
  }
}

/** Throws on an unknown key version, a tampered token or a malformed message. */
export function openEmail(keyRing: KeyRing, data: SealedEmail): EmailMessage {
  const plaintext = keyRing.decrypt(data.version, data.sealed);
  try {
    return emailMessage.parse(JSON.parse(plaintext.toString("utf8")));
  } finally {
    plaintext.fill(0);
  }
}

/**
 * The job id of an alert's mail to one account: the copy itself, so handing it over again (a
 * resend after Redis lost the queue) never queues a second mail while the first job is kept.
 */
export const alertEmailJobId = (ref: DeliveryRef): string | undefined =>
  ref.recipient === null ? undefined : `alert-${ref.id}-${ref.audience}-${ref.recipient}`;

export function createEmailOutbox(deps: { queue: Queue; keyRing: KeyRing }): EmailOutbox {
  return {
    async send(message, ref) {
      const jobId = ref ? alertEmailJobId(ref) : undefined;
      await deps.queue.add(
        EMAIL_JOB,
        { ...sealEmail(deps.keyRing, message), ...(ref ? { ref } : {}) },
        jobId ? { jobId } : {},
      );
    },
  };
}

/** A queued reset request (DeferredAccountWork), sealed like a message: the address is personal. */
export const RESET_REQUEST_JOB = "reset-request";

const resetRequestData = z.object({
  email: z.string().max(254),
  ip: z.string().max(64).nullable(),
});

export function createDeferredAccountWork(deps: {
  queue: Queue;
  keyRing: KeyRing;
}): DeferredAccountWork {
  return {
    async resetRequest(request) {
      const plaintext = Buffer.from(JSON.stringify(request), "utf8");
      try {
        const { token, version } = deps.keyRing.encrypt(plaintext);
        // Delayed a moment, so a worker in the same process does not start on it while this
        // request's answer is still on its way (which would make a known email slower).
        await deps.queue.add(RESET_REQUEST_JOB, { sealed: token, version }, { delay: 1_000 });
      } finally {
        plaintext.fill(0);
      }
    },
  };
}

/** Throws on an unknown key version, a tampered token or malformed data. */
export function openResetRequest(keyRing: KeyRing, data: unknown): ResetRequest {
  const sealed = z.object({ sealed: z.string().min(1), version: z.number().int() }).parse(data);
  const plaintext = keyRing.decrypt(sealed.version, sealed.sealed);
  try {
    return resetRequestData.parse(JSON.parse(plaintext.toString("utf8")));
  } finally {
    plaintext.fill(0);
  }
}
