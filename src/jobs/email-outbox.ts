// The EmailOutbox port over the `email` queue. A message is sealed with the account key ring
// before it enters Redis: reset links are secrets and addresses personal data (S1.1).
import type { Queue } from "bullmq";
import { z } from "zod";
import type { DeliveryRef, EmailMessage, EmailOutbox } from "../domain/accounts/email";
import type { DeferredAccountWork, ResetRequest } from "../domain/accounts/ports";
import {
  type AccountKeys,
  openAccountSecret,
  type RingedToken,
  sealAccountSecret,
} from "../domain/vault";

export const EMAIL_JOB = "send";

const id = z.string().regex(/^\d{1,19}$/);

/**
 * The ring that sealed a job. Jobs queued before the rings split carry none: they were sealed
 * under MASTER_KEYS.
 */
const sealedRing = z.enum(["master", "account"]).default("master");

/**
 * All a `send` job carries: a Fernet token of the message's JSON, the ring and key version,
 * and for an alert the ids its delivery log is kept under.
 */
export const sealedEmailData = z.object({
  sealed: z.string().min(1),
  version: z.number().int().positive(),
  ring: sealedRing,
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

/** Seals JSON under the account ring: the job data `{ sealed, version, ring }`. */
function seal(keys: AccountKeys, value: unknown): Pick<SealedEmail, "sealed" | "version" | "ring"> {
  const plaintext = Buffer.from(JSON.stringify(value), "utf8");
  try {
    const { token, version, ring } = sealAccountSecret(keys, plaintext);
    return { sealed: token, version, ring };
  } finally {
    plaintext.fill(0);
  }
}

const unsealed = (data: Pick<SealedEmail, "sealed" | "version" | "ring">): RingedToken => ({
  token: data.sealed,
  version: data.version,
  ring: data.ring,
});

export function sealEmail(keys: AccountKeys, message: EmailMessage): SealedEmail {
  return seal(keys, message);
}

/** Throws on an unknown ring or key version, a tampered token or a malformed message. */
export function openEmail(keys: AccountKeys, data: SealedEmail): EmailMessage {
  const plaintext = openAccountSecret(keys, unsealed(data));
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

export function createEmailOutbox(deps: { queue: Queue; accountKeys: AccountKeys }): EmailOutbox {
  return {
    async send(message, ref) {
      const jobId = ref ? alertEmailJobId(ref) : undefined;
      await deps.queue.add(
        EMAIL_JOB,
        { ...sealEmail(deps.accountKeys, message), ...(ref ? { ref } : {}) },
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
  accountKeys: AccountKeys;
}): DeferredAccountWork {
  return {
    async resetRequest(request) {
      // Delayed a moment, so a worker in the same process does not start on it while this
      // request's answer is still on its way (which would make a known email slower).
      await deps.queue.add(RESET_REQUEST_JOB, seal(deps.accountKeys, request), { delay: 1_000 });
    },
  };
}

/** Throws on an unknown ring or key version, a tampered token or malformed data. */
export function openResetRequest(keys: AccountKeys, data: unknown): ResetRequest {
  const sealed = z
    .object({ sealed: z.string().min(1), version: z.number().int(), ring: sealedRing })
    .parse(data);
  const plaintext = openAccountSecret(keys, unsealed(sealed));
  try {
    return resetRequestData.parse(JSON.parse(plaintext.toString("utf8")));
  } finally {
    plaintext.fill(0);
  }
}
