// Sealed intake in PostgreSQL (issue 19): the signer publishes its intake public keys, the api and
// the bot read the current one to seal to, and the signer claims each intake request once.

import {
  type IntakeKeyRing,
  type IntakePublicKeys,
  parseIntakePublicKeys,
} from "../domain/vault/sealed-intake";
import type { IntakeClaims, SealedConnectResult } from "../domain/venues/sealed-keys";
import type { Sql } from "./vault-store";

/**
 * Publishes the ring's public halves (a version already there is updated and un-retired) and
 * retires every published version below the ring's current one that the ring no longer holds.
 * A signer with an older ring (a rolling deploy) never retires a newer version.
 */
export async function publishIntakeKeys(sql: Sql, ring: IntakeKeyRing): Promise<void> {
  const publicKeys = ring.publicKeys();
  for (const entry of publicKeys.toString().split(",")) {
    const [version, key] = entry.split(":") as [string, string];
    await sql(
      `insert into signer_intake_keys (version, public_key) values (?, ?)
       on conflict (version) do update
         set public_key = excluded.public_key, retired_at = null,
             published_at = case when signer_intake_keys.public_key = excluded.public_key
                                  then signer_intake_keys.published_at else now() end`,
      [Number(version), key],
    );
  }
  await sql(
    `update signer_intake_keys set retired_at = now()
      where retired_at is null and version < ? and not (version = any(?::int[]))`,
    [ring.currentVersion, `{${ring.versions.join(",")}}`],
  );
}

/** The published, unretired intake public keys (the highest is sealed to); null when none. */
export async function currentIntakePublicKeys(sql: Sql): Promise<IntakePublicKeys | null> {
  const rows = await sql(
    "select version, public_key from signer_intake_keys where retired_at is null order by version",
  );
  if (rows.length === 0) return null;
  return parseIntakePublicKeys(
    rows.map((r) => `${r.version}:${r.public_key}`).join(","),
    "signer_intake_keys",
  );
}

function claimState(row: Record<string, unknown>): "claimed" | { answered: SealedConnectResult } {
  const answer = row.answer;
  if (answer === null || answer === undefined) return "claimed";
  return {
    answered: (typeof answer === "string" ? JSON.parse(answer) : answer) as SealedConnectResult,
  };
}

export function createIntakeClaims(sql: Sql): IntakeClaims {
  return {
    async claim(c) {
      const inserted = await sql(
        `insert into signer_intake_claims (request_id, enc_hash, user_id, venue, job_ref, expires_at)
         values (?, ?, ?, ?, ?, ?) on conflict do nothing returning 1`,
        [c.requestId, c.encHash, c.userId, c.venue, c.jobRef, c.expiresAt],
      );
      if (inserted.length > 0) return "claimed";
      const rows = await sql(
        `select request_id, job_ref, answer from signer_intake_claims
          where request_id = ? or enc_hash = ?`,
        [c.requestId, c.encHash],
      );
      // Only the very job that claimed it, redelivered, may go on (or hear its answer again).
      const own = rows.length === 1 && rows[0]!.request_id === c.requestId;
      if (!own || rows[0]!.job_ref !== c.jobRef) return "replayed";
      return claimState(rows[0]!);
    },
    async claimOf(requestId, jobRef) {
      const rows = await sql(
        "select job_ref, answer from signer_intake_claims where request_id = ? and job_ref = ?",
        [requestId, jobRef],
      );
      return rows[0] ? claimState(rows[0]) : null;
    },
    async settle(requestId, answer) {
      await sql(
        "update signer_intake_claims set answer = ?::jsonb where request_id = ? and answer is null",
        [JSON.stringify(answer), requestId],
      );
    },
  };
}

/**
 * Deletes claims a day past their expiry: the signer refuses an expired envelope before it looks
 * for a claim, so such a claim guards nothing any more.
 */
export async function purgeExpiredClaims(sql: Sql): Promise<void> {
  await sql("delete from signer_intake_claims where expires_at < now() - interval '1 day'");
}
