// What every trade action reads first, the kill switch's state and the user's keys, in one
// statement: one round trip per action. Nothing is kept between actions, so a pause or a
// revocation applies to the very next action.
import type { ActivePause } from "../domain/trading/pause";
import type { CredentialRecord } from "../domain/venues/key-records";
import { CREDENTIAL_COLUMNS, toRecord } from "./credentials-repo";
import { PAUSE_COLUMNS, toPause } from "./pause-store";
import type { Sql } from "./vault-store";

export function createActionStateReader(sql: Sql) {
  return async (
    userId: string,
  ): Promise<{ pauses: ActivePause[]; credentials: CredentialRecord[] }> => {
    // The same rows as PauseStore.activeFor and CredentialsRepo.list, as JSON arrays.
    const rows = await sql(
      `select
         (select coalesce(json_agg(p), '[]'::json) from (select ${PAUSE_COLUMNS}
            from trading_pauses where user_id is null or user_id = ?::bigint) p)::text as pauses,
         (select coalesce(json_agg(c order by c.id::bigint), '[]'::json) from (select ${CREDENTIAL_COLUMNS}
            from exchange_credentials where user_id = ?::bigint) c)::text as credentials`,
      [userId, userId],
    );
    const r = rows[0];
    if (!r) throw new Error("action state: no row");
    const list = (v: unknown) => JSON.parse(v as string) as Array<Record<string, unknown>>;
    return { pauses: list(r.pauses).map(toPause), credentials: list(r.credentials).map(toRecord) };
  };
}
