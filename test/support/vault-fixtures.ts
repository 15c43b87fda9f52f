// Credential rows with known plaintexts, for rotation tests and benchmarks. Every plaintext
// carries a marker so one search finds any leak of any of them.
import { randomBytes } from "node:crypto";
import type pg from "pg";
import type { KeyRing } from "../../src/domain/vault";

export const newMarker = () => `PLAINTEXT${randomBytes(6).toString("hex")}`;

export const expectedApiKey = (marker: string, n: number) => `ak-${marker}-${n}`;
export const expectedSecret = (marker: string, n: number) => `sk-${marker}-${n}`;

/** Inserts `count` credentials numbered from `start`, encrypted under the ring's current key. */
export async function seedCredentials(
  client: pg.Client | pg.Pool,
  ring: KeyRing,
  marker: string,
  start: number,
  count: number,
  batch = 5_000,
): Promise<void> {
  for (let from = start; from < start + count; from += batch) {
    const rows = [];
    for (let n = from; n < Math.min(start + count, from + batch); n++) {
      const a = ring.encrypt(Buffer.from(expectedApiKey(marker, n)));
      const s = ring.encrypt(Buffer.from(expectedSecret(marker, n)));
      rows.push({
        user_id: (n % 5000) + 1,
        label: `#${n}`,
        api_key: a.token,
        secret: s.token,
        v: a.version,
      });
    }
    await client.query(
      `insert into exchange_credentials (user_id, venue, label, api_key, secret, encryption_key_version)
       select user_id, 'binanceusdm', label, api_key, secret, v
       from json_to_recordset($1::json) as r(user_id bigint, label text, api_key text, secret text, v int)`,
      [JSON.stringify(rows)],
    );
  }
}

/** Decrypts every row with `ring` and returns the labels of rows that do not match. */
export async function mismatchedRows(
  client: pg.Client,
  ring: KeyRing,
  marker: string,
): Promise<string[]> {
  const bad: string[] = [];
  const { rows } = await client.query<{
    label: string;
    api_key: string;
    secret: string;
    v: number;
  }>("select label, api_key, secret, encryption_key_version as v from exchange_credentials");
  for (const r of rows) {
    const n = Number(r.label.slice(1));
    try {
      const a = ring.decrypt(r.v, r.api_key).toString();
      const s = ring.decrypt(r.v, r.secret).toString();
      if (a !== expectedApiKey(marker, n) || s !== expectedSecret(marker, n)) bad.push(r.label);
    } catch {
      bad.push(r.label);
    }
  }
  return bad;
}
