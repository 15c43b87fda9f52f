// Processes started together on a fresh server (the signer beside api and worker, or several
// systemd units at boot) each create the database named in DATABASE_URL if it is missing. When
// their CREATE DATABASE statements run at the same moment, PostgreSQL refuses all but one with a
// unique violation on pg_database's name index (23505) rather than "already exists" (42P04); the
// others must take that as the database being there, not fail to start.
import { describe, expect, it } from "vitest";
import { ensureDatabase } from "../../../src/infra/database";
import { unusedDatabaseUrl } from "../../support/context";

describe("creating the database on start", () => {
  it("when several processes create the same missing database at once, then exactly one creates it and every one goes on", async () => {
    for (let round = 0; round < 8; round++) {
      const url = unusedDatabaseUrl();
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, () => ensureDatabase(url)),
      );
      const refused = results.filter((r) => r.status === "rejected");
      expect(refused.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      const created = results.filter((r) => r.status === "fulfilled" && r.value === true);
      expect(created).toHaveLength(1);
      // And once it exists, nobody creates it again.
      expect(await ensureDatabase(url)).toBe(false);
    }
  });
});
