// CredentialsRepo on PostgreSQL: exchange_credentials rows hold Fernet tokens only (S1.1).

import type {
  CredentialRecord,
  CredentialsRepo,
  StoredMaterial,
} from "../domain/venues/key-records";
import type { Warning } from "../domain/venues/scope-policy";
import type { VenueId } from "../domain/venues/types";
import type { Sql } from "./vault-store";

export const CREDENTIAL_COLUMNS = `id::text as id, user_id::text as user_id, venue, label, key_hint, wallet_address,
  verified_scopes, warnings, verified_at, created_at, rotated_at, revoked_at, disabled_at,
  disabled_reason, api_key, secret, private_key, encryption_key_version, testnet, margin_mode, expires_at, expiry_warned_for`;

const date = (v: unknown) =>
  v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v));
const json = <T>(v: unknown, fallback: T): T =>
  v === null || v === undefined
    ? fallback
    : typeof v === "string"
      ? (JSON.parse(v) as T)
      : (v as T);

export function toRecord(r: Record<string, unknown>): CredentialRecord {
  return {
    id: r.id as string,
    userId: r.user_id as string,
    venue: r.venue as VenueId,
    label: r.label as string,
    keyHint: (r.key_hint as string | null) ?? null,
    walletAddress: (r.wallet_address as string | null) ?? null,
    verifiedScopes: json<string[]>(r.verified_scopes, []),
    warnings: json<Warning[]>(r.warnings, []),
    verifiedAt: date(r.verified_at),
    createdAt: date(r.created_at)!,
    rotatedAt: date(r.rotated_at),
    revokedAt: date(r.revoked_at),
    disabledAt: date(r.disabled_at),
    disabledReason: (r.disabled_reason as string | null) ?? null,
    testnet: r.testnet === true,
    marginMode: r.margin_mode === "isolated" ? "isolated" : "cross",
    expiresAt: date(r.expires_at),
    expiryWarnedFor: date(r.expiry_warned_for),
    encrypted: {
      apiKey: (r.api_key as string | null) ?? null,
      secret: (r.secret as string | null) ?? null,
      privateKey: (r.private_key as string | null) ?? null,
      walletAddress: (r.wallet_address as string | null) ?? null,
      encryptionKeyVersion: Number(r.encryption_key_version),
      testnet: r.testnet === true,
      marginMode: r.margin_mode === "isolated" ? "isolated" : "cross",
    },
  };
}

/**
 * Not yet warned of this expiry. A day's slack: Bybit's `deadlineDay` (days left) gives an expiry
 * that moves with the hour it is read, which is still the same expiry.
 */
const NOT_WARNED = `(expiry_warned_for is null
  or expiry_warned_for not between expires_at - interval '1 day' and expires_at + interval '1 day')`;

const isId = (id: string) => /^\d{1,19}$/.test(id);

export function createCredentialsRepo(sql: Sql): CredentialsRepo {
  return {
    async insert(userId, venue, label, m: StoredMaterial, intakeRequestId?: string) {
      // A second insert for the same intake request stores nothing: the caller reads the first.
      const rows = await sql(
        `insert into exchange_credentials (user_id, venue, label, api_key, secret, private_key,
           wallet_address, encryption_key_version, key_hint, verified_scopes, warnings, verified_at,
           testnet, expires_at, intake_request_id)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?::jsonb, now(), ?, ?, ?)
         on conflict (intake_request_id) where intake_request_id is not null do nothing
         returning ${CREDENTIAL_COLUMNS}`,
        [
          userId,
          venue,
          label,
          m.apiKey,
          m.secret,
          m.privateKey,
          m.walletAddress,
          m.version,
          m.keyHint,
          JSON.stringify(m.scopes),
          JSON.stringify(m.warnings),
          m.testnet === true,
          m.expiresAt ?? null,
          intakeRequestId ?? null,
        ],
      );
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async byIntakeRequest(userId, requestId) {
      const rows = await sql(
        `select ${CREDENTIAL_COLUMNS} from exchange_credentials
          where user_id = ? and (intake_request_id = ? or material_request_id = ?)`,
        [userId, requestId, requestId],
      );
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async rotationTarget(userId, id, lock = false) {
      if (!isId(id)) return null;
      const rows = await sql(
        `select ${CREDENTIAL_COLUMNS}, material_request_id, material_requested_at
           from exchange_credentials where user_id = ? and id = ?${lock ? " for update" : ""}`,
        [userId, id],
      );
      const row = rows[0];
      if (!row) return null;
      return {
        record: toRecord(row),
        writer: {
          requestId: (row.material_request_id as string | null) ?? null,
          requestedAt: date(row.material_requested_at),
        },
      };
    },
    async list(userId) {
      return (
        await sql(
          `select ${CREDENTIAL_COLUMNS} from exchange_credentials where user_id = ? order by id`,
          [userId],
        )
      ).map(toRecord);
    },
    async get(userId, id) {
      if (!isId(id)) return null;
      const rows = await sql(
        `select ${CREDENTIAL_COLUMNS} from exchange_credentials where user_id = ? and id = ?`,
        [userId, id],
      );
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async replaceMaterial(id, m, by) {
      // The old tokens are overwritten in place: nothing of the previous key stays in the row.
      const rows = await sql(
        `update exchange_credentials set api_key = ?, secret = ?, private_key = ?, wallet_address = ?,
           encryption_key_version = ?, key_hint = ?, verified_scopes = ?::jsonb, warnings = ?::jsonb,
           verified_at = now(), disabled_at = null, disabled_reason = null, updated_at = now(),
           expires_at = ?, material_request_id = ?,
           material_requested_at = coalesce(?::timestamptz, now())
         where id = ? and revoked_at is null returning id`,
        [
          m.apiKey,
          m.secret,
          m.privateKey,
          m.walletAddress,
          m.version,
          m.keyHint,
          JSON.stringify(m.scopes),
          JSON.stringify(m.warnings),
          m.expiresAt ?? null,
          by?.requestId ?? null,
          by?.requestedAt ?? null,
          id,
        ],
      );
      return rows.length === 1;
    },
    async revoke(id) {
      const rows = await sql(
        `update exchange_credentials set api_key = null, secret = null, private_key = null,
           revoked_at = now(), updated_at = now() where id = ? and revoked_at is null returning id`,
        [id],
      );
      return rows.length === 1;
    },
    async activeAfter(afterId, limit) {
      const rows = await sql(
        `select ${CREDENTIAL_COLUMNS} from exchange_credentials
         where id > ?::bigint and revoked_at is null and disabled_at is null and venue <> 'paper'
         order by id limit ?`,
        [afterId, limit],
      );
      return rows.map(toRecord);
    },
    async markVerified(id, scopes, warnings, expiresAt) {
      await sql(
        `update exchange_credentials set verified_scopes = ?::jsonb, warnings = ?::jsonb,
           verified_at = now(), expires_at = ? where id = ?`,
        [JSON.stringify(scopes), JSON.stringify(warnings), expiresAt, id],
      );
    },
    async setMarginMode(id, mode) {
      const rows = await sql(
        `update exchange_credentials set margin_mode = ?, updated_at = now()
         where id = ? and revoked_at is null returning id`,
        [mode, id],
      );
      return rows.length === 1;
    },
    async expiringBefore(at, limit) {
      const rows = await sql(
        `select ${CREDENTIAL_COLUMNS} from exchange_credentials
         where revoked_at is null and disabled_at is null and expires_at is not null
           and expires_at <= ? and ${NOT_WARNED}
         order by expires_at, id limit ?`,
        [at, limit],
      );
      return rows.map(toRecord);
    },
    async claimExpiryWarning(id, expiresAt) {
      // One warning per key and expiry: the first worker to set the mark sends it.
      const rows = await sql(
        `update exchange_credentials set expiry_warned_for = expires_at
         where id = ? and expires_at = ? and ${NOT_WARNED}
         returning id`,
        [id, expiresAt],
      );
      return rows.length === 1;
    },
    async disable(id, reason) {
      const rows = await sql(
        `update exchange_credentials set disabled_at = now(), disabled_reason = ?, updated_at = now()
         where id = ? and disabled_at is null and revoked_at is null returning id`,
        [reason, id],
      );
      return rows.length === 1;
    },
  };
}
