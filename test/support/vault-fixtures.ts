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
  // Credentials belong to users: 50 Telegram-only users, created once per database.
  await client.query(
    `insert into users (telegram_user_id) select 9000000 + g from generate_series(0, 49) g
     on conflict (telegram_user_id) do nothing`,
  );
  for (let from = start; from < start + count; from += batch) {
    const rows = [];
    for (let n = from; n < Math.min(start + count, from + batch); n++) {
      const a = ring.encrypt(Buffer.from(expectedApiKey(marker, n)));
      const s = ring.encrypt(Buffer.from(expectedSecret(marker, n)));
      rows.push({
        tg: 9_000_000 + (n % 50),
        label: `#${n}`,
        api_key: a.token,
        secret: s.token,
        v: a.version,
      });
    }
    await client.query(
      `insert into exchange_credentials (user_id, venue, label, api_key, secret, encryption_key_version)
       select u.id, 'binanceusdm', r.label, r.api_key, r.secret, r.v
       from json_to_recordset($1::json) as r(tg bigint, label text, api_key text, secret text, v int)
       join users u on u.telegram_user_id = r.tg`,
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
