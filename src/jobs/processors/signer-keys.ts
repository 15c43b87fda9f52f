// The `signer-keys` processor: the signer trusts the queue for transport, not for authority. It
// re-reads that the user exists, then the sealed-intake use case refuses a stale, foreign, edited,
// retired-key or replayed envelope (recorded as a security event) or connects the key exactly as
// the direct path does, once per request. Refusals complete the job; they are never retried.
import type { Job } from "bullmq";
import type { SecurityEvent } from "../../domain/accounts/repo";
import {
  connectSealed,
  type SealedConnectDeps,
  type SealedConnectResult,
} from "../../domain/venues/sealed-keys";
import { keyJobId, signerKeyJobSchema } from "../signer-keys";

export interface SignerKeyProcessorDeps extends SealedConnectDeps {
  users: { userActive(userId: string): Promise<boolean> };
  recordEvent: (e: SecurityEvent) => Promise<void>;
}

export function createSignerKeyProcessor(deps: SignerKeyProcessorDeps) {
  return async (job: Job): Promise<SealedConnectResult> => {
    const parsed = signerKeyJobSchema.safeParse(job.data);
    const forged = async (reason: string, userId: string | null) => {
      await deps.recordEvent({
        userId,
        kind: "key_intake_refused",
        outcome: "refused",
        details: { jobId: job.id, job: job.name, reason },
      });
      return { refused: "The key request is malformed." };
    };
    if (!parsed.success || parsed.data.action !== job.name) return forged("malformed", null);
    const request = parsed.data;
    // A job filed under another (user, request) would shadow that request's real answer.
    if (job.id !== keyJobId(request.userId, request.requestId)) {
      return forged("job_id_mismatch", null);
    }
    if (!(await deps.users.userActive(request.userId))) {
      return { refused: "This account cannot add keys." };
    }
    // Its own redelivery (same id, same creation time) finds its intake claim: it answers what
    // the first run answered (or stored), or goes on if that run stopped before doing either.
    return connectSealed(deps, request, `${job.id}@${job.timestamp}`);
  };
}
