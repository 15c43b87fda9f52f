// Sealed key intake wiring (issue 19). Caller side: a KeyService whose `connect` and `rotate`
// seal the pasted material to the signer's published intake key and submit it on the
// `signer-keys` queue, then answer exactly as the direct path would. Signer side: publishes the
// intake public keys and builds the queue's processor.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { type Queue, QueueEvents } from "bullmq";
import type { IntakeKeyRing, IntakePublicKeys } from "../domain/vault/sealed-intake";
import {
  type CredentialRecord,
  type KeyMaterial,
  KeyNotFound,
  KeyRefused,
} from "../domain/venues/key-records";
import type { KeyService } from "../domain/venues/keys";
import {
  INTAKE_REQUEST_TTL_MS,
  KeyIntakePending,
  type SealedKeyRequest,
  sealKeyMaterial,
} from "../domain/venues/sealed-keys";
import { VenueError } from "../domain/venues/types";
import { createAccountsRepo } from "../infra/accounts-repo";
import { createCredentialsRepo } from "../infra/credentials-repo";
import { sqlOf } from "../infra/database";
import {
  createIntakeClaims,
  currentIntakePublicKeys,
  publishIntakeKeys,
  purgeExpiredClaims,
} from "../infra/intake-store";
import type { RedisFactory } from "../infra/redis";
import { createKeyAuthority } from "../infra/signer-authority";
import { createSignerKeyProcessor } from "../jobs/processors/signer-keys";
import { QUEUE_DEFINITIONS } from "../jobs/registry";
import { createSignerKeyClient, type SignerKeyClient } from "../jobs/signer-keys";

/** How long the api or the bot waits for the signer's answer to a pasted key. */
export const KEY_INTAKE_DEADLINE_MS = 45_000;

const zero = (m: KeyMaterial) => {
  m.apiKey?.fill(0);
  m.secret?.fill(0);
  m.privateKey?.fill(0);
};

/**
 * `direct` with `connect` and `rotate` going through the signer: the other use cases (list,
 * revoke, margin mode) carry no secret and stay direct, as does the paper venue (no key).
 */
export function sealedKeyService(
  direct: KeyService,
  deps: {
    client: SignerKeyClient;
    publicKeys: () => Promise<IntakePublicKeys | null>;
    deadlineMs?: number;
    now?: () => number;
  },
): KeyService {
  const now = deps.now ?? Date.now;

  async function submit(
    request: Omit<SealedKeyRequest, "requestId" | "expiresAt" | "envelope">,
    material: KeyMaterial,
  ): Promise<CredentialRecord> {
    const { userId } = request;
    let envelope: string;
    const requestId = randomBytes(16).toString("hex");
    const expiresAt = now() + INTAKE_REQUEST_TTL_MS;
    try {
      const publicKeys = await deps.publicKeys();
      if (publicKeys === null) {
        throw new VenueError(
          "network",
          "Key intake is unavailable: no signer has published its intake key yet. Try again in a minute.",
        );
      }
      envelope = sealKeyMaterial(publicKeys, { ...request, requestId, expiresAt }, material);
    } finally {
      // Sealed or not, the plaintext leaves this process's memory here.
      zero(material);
    }
    const outcome = await deps.client.connect(
      { ...request, requestId, expiresAt, envelope },
      { deadlineMs: deps.deadlineMs ?? KEY_INTAKE_DEADLINE_MS },
    );
    switch (outcome.status) {
      case "refused":
        throw new KeyRefused(outcome.reason, []);
      case "still_working":
        throw new KeyIntakePending();
      case "failed":
        throw new VenueError("venue_error", outcome.reason, false);
      case "done": {
        const r = outcome.result;
        if (r.ok) {
          const record = (await direct.list(userId)).find((k) => k.id === r.credentialId);
          if (!record) throw new Error("the signer stored a key that cannot be read back");
          return record;
        }
        if (r.code === "key_refused") throw new KeyRefused(r.message, r.refusals, r.warnings);
        if (r.code === "key_not_found") throw new KeyNotFound();
        throw new VenueError(r.venueCode, r.message, r.retryable);
      }
    }
  }

  return {
    ...direct,
    async connect(userId, venue, label, material, ip = null) {
      if (venue === "paper") return direct.connect(userId, venue, label, material, ip);
      const testnet = material.testnet === true;
      return submit({ action: "connect", userId, venue, label, testnet, ip }, material);
    },
    async rotate(userId, id, material, ip = null) {
      // The venue is bound in the envelope; the signer re-reads the key (owner, state) itself.
      let current: CredentialRecord | undefined;
      try {
        current = (await direct.list(userId)).find((k) => k.id === id && !k.revokedAt);
      } catch (err) {
        zero(material);
        throw err;
      }
      if (!current || current.venue === "paper") {
        // Paper has nothing to rotate: the direct use case gives its usual answer.
        return direct.rotate(userId, id, material, ip);
      }
      return submit(
        {
          action: "rotate",
          credentialId: id,
          userId,
          venue: current.venue,
          label: "",
          testnet: current.testnet,
          ip,
        },
        material,
      );
    },
  };
}

/** The caller side from the process's shared Redis and database: queue, events, public keys. */
export function sealedKeysFromShared(
  direct: KeyService,
  shared: { orm: MikroORM; redis: RedisFactory; queue: Queue },
): { keys: KeyService; stop: () => Promise<void> } {
  const events = new QueueEvents(QUEUE_DEFINITIONS.signerKeys.name, {
    connection: shared.redis.create("worker", "signer-keys-events"),
    prefix: shared.redis.bullPrefix,
  });
  events.on("error", () => {});
  const sql = sqlOf(shared.orm);
  return {
    keys: sealedKeyService(direct, {
      client: createSignerKeyClient({ queue: shared.queue, events }),
      publicKeys: () => currentIntakePublicKeys(sql),
    }),
    stop: () => events.close(),
  };
}

/**
 * The signer's processor for `signer-keys` (the `signerKeys` entry of its startWorkers
 * processors). Publishes the ring's public keys first, so that api and bot seal to them.
 */
export async function signerKeyIntake(parts: {
  orm: MikroORM;
  /** The direct key service (built with the master key ring): the signer's connect. */
  keys: KeyService;
  intakeKeys: IntakeKeyRing;
  now?: () => number;
}) {
  const sql = sqlOf(parts.orm);
  await publishIntakeKeys(sql, parts.intakeKeys);
  await purgeExpiredClaims(sql);
  const users = createAccountsRepo(sql);
  const credentials = createCredentialsRepo(sql);
  return createSignerKeyProcessor({
    intakeKeys: parts.intakeKeys,
    claims: createIntakeClaims(sql),
    connect: parts.keys.connect,
    storedBy: async (userId, requestId) =>
      (await credentials.byIntakeRequest(userId, requestId))?.id ?? null,
    rotate: parts.keys.rotate,
    users: createKeyAuthority(sql),
    recordEvent: (e) => users.recordEvent(e),
    now: parts.now ?? Date.now,
  });
}
