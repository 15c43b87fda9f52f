import { describe, expect, it } from "vitest";
import { libpqTarget } from "../../../src/infra/backup";

describe("libpqTarget", () => {
  it("when a database URL carries parameters and a password, then pg_dump gets neither in its --dbname, the password only in its environment, and verify-full with a CA", () => {
    const { dbname, env } = libpqTarget({
      url: "postgres://backup:s3cret@db.internal:5432/warden?sslmode=disable&host=evil.example&hostaddr=203.0.113.9#x",
      sslCa: "/etc/warden/db-ca.pem",
    });
    expect(dbname).toBe("postgres://backup@db.internal:5432/warden");
    expect(env.PGPASSWORD).toBe("s3cret");
    expect(env.PGSSLMODE).toBe("verify-full");
    expect(env.PGSSLROOTCERT).toBe("/etc/warden/db-ca.pem");
  });
});
