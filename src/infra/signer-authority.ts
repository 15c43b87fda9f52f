// What the signer reads from the database to decide, on its own, whether an intent may act: who
// owns the key it names and whether that key and that user may still trade. The queue carries
// the intent; this is the authority.
import type { Sql } from "./vault-store";

export interface KeyAuthority {
  /** The key's owner and whether it may be used (not revoked, not disabled); null if none. */
  key(credentialId: string): Promise<{ userId: string; usable: boolean } | null>;
  /** Whether the user exists and is not deleted. */
  userActive(userId: string): Promise<boolean>;
}

const isId = (s: string) => /^[1-9][0-9]{0,18}$/.test(s);

export function createKeyAuthority(sql: Sql): KeyAuthority {
  return {
    async key(credentialId) {
      if (!isId(credentialId)) return null;
      const [row] = await sql(
        `select user_id::text as user_id, (revoked_at is null and disabled_at is null) as usable
           from exchange_credentials where id = ?`,
        [credentialId],
      );
      return row ? { userId: row.user_id as string, usable: row.usable === true } : null;
    },
    async userActive(userId) {
      if (!isId(userId)) return false;
      const [row] = await sql("select 1 from users where id = ? and deleted_at is null", [userId]);
      return row !== undefined;
    },
  };
}
