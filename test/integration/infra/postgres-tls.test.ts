// S9.2: with DATABASE_SSL_CA every connection — MikroORM, database creation, the migration
// lock, and libpq tools through pgToolEnv — is TLS with the certificate verified against that
// CA and the host name checked. Against a throwaway cluster with TLS on, started here.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { MikroORM } from "@mikro-orm/postgresql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createOrm,
  ensureDatabase,
  pgToolEnv,
  prepareDatabase,
  sqlOf,
} from "../../../src/infra/database";
import { startTlsCluster, type TlsCluster } from "../../support/pg-tls-cluster";

const BAD_CA =
  /self[- ]signed certificate in certificate chain|unable to (get local issuer|verify)/i;
const BAD_NAME = /does not match certificate's altnames|is not in the cert's list/i;

let cluster: TlsCluster;
let home: string;
beforeAll(async () => {
  cluster = await startTlsCluster();
  home = mkdtempSync(join(tmpdir(), "warden-pghome-"));
});
afterAll(async () => {
  await cluster?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

async function sslOfSession(orm: MikroORM): Promise<unknown> {
  const rows = await sqlOf(orm)("select ssl from pg_stat_ssl where pid = pg_backend_pid()");
  return rows[0]?.ssl;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the connection was not refused");
}

/** psql or pg_dump with only PATH, an empty HOME and the helper's variables. */
async function libpq(
  tool: "psql" | "pg_dump",
  host: string,
  caFile: string,
  args: string[],
): Promise<{ ok: boolean; out: string }> {
  const conninfo = `host=${host} port=${cluster.port} user=postgres dbname=postgres`;
  try {
    const { stdout } = await promisify(execFile)(tool, [...args, conninfo], {
      env: { PATH: process.env.PATH, HOME: home, ...pgToolEnv({ databaseSslCa: caFile }) },
    });
    return { ok: true, out: stdout };
  } catch (err) {
    return { ok: false, out: String((err as { stderr?: string }).stderr ?? err) };
  }
}

describe("PostgreSQL over verified TLS (S9.2)", () => {
  it("when DATABASE_SSL_CA names the server's CA, then database creation, migrations and MikroORM connect over TLS", async () => {
    const url = cluster.url("localhost", "warden_tls");
    const prepared = await prepareDatabase({ url, sslCa: cluster.caFile, create: true });
    expect(prepared.created).toBe(true);
    expect(prepared.applied.length).toBeGreaterThan(0);
    const orm = await createOrm({ url, sslCa: cluster.caFile });
    try {
      expect(await sslOfSession(orm)).toBe(true);
      const rows = await sqlOf(orm)("select count(*)::int as n from mikro_orm_migrations");
      expect(rows[0]?.n).toBe(prepared.applied.length);
    } finally {
      await orm.close();
    }
  });

  it("when the certificate names the IP address connected to, then the connection is accepted", async () => {
    const orm = await createOrm({
      url: cluster.url("127.0.0.2", "postgres"),
      sslCa: cluster.caFile,
    });
    try {
      expect(await sslOfSession(orm)).toBe(true);
    } finally {
      await orm.close();
    }
    const psql = await libpq("psql", "127.0.0.2", cluster.caFile, ["-Atc", "select 1"]);
    expect(psql).toEqual({ ok: true, out: "1\n" });
  });

  it("when DATABASE_SSL_CA names another CA, then every connection is refused", async () => {
    const url = cluster.url("localhost", "postgres");
    expect(await refusal(ensureDatabase(url, cluster.wrongCaFile))).toMatch(BAD_CA);
    expect(
      await refusal(
        createOrm({ url, sslCa: cluster.wrongCaFile }).then(async (orm) => {
          try {
            return await sslOfSession(orm);
          } finally {
            await orm.close();
          }
        }),
      ),
    ).toMatch(BAD_CA);
  });

  it("when the certificate does not name the host connected to, then the connection is refused even with the right CA", async () => {
    // The certificate names localhost and 127.0.0.2; 127.0.0.1 reaches the same server. (Left
    // to itself node-postgres would check an IP host against "localhost" and accept this.)
    const url = cluster.url("127.0.0.1", "postgres");
    expect(await refusal(ensureDatabase(url, cluster.caFile))).toMatch(BAD_NAME);
    expect(
      await refusal(
        createOrm({ url, sslCa: cluster.caFile }).then(async (orm) => {
          try {
            return await sslOfSession(orm);
          } finally {
            await orm.close();
          }
        }),
      ),
    ).toMatch(BAD_NAME);
  });

  it("when the URL itself asks for sslmode=no-verify or another host, then our connections ignore it and still verify", async () => {
    const url = `${cluster.url("localhost", "postgres")}?sslmode=no-verify&host=127.0.0.1`;
    expect(await refusal(ensureDatabase(url, cluster.wrongCaFile))).toMatch(BAD_CA);
    // With the right CA the same parameters change nothing either: still TLS (pg_hba refuses
    // anything else) and still the URL's host, which the certificate names.
    const ignored = `${cluster.url("localhost", "warden_tls")}?sslmode=disable&host=127.0.0.1`;
    expect(await ensureDatabase(ignored, cluster.caFile)).toBe(false);
  });

  it("when psql and pg_dump run with pgToolEnv and the right CA, then they connect over TLS", async () => {
    const psql = await libpq("psql", "localhost", cluster.caFile, [
      "-Atc",
      "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
    ]);
    expect(psql).toEqual({ ok: true, out: "t\n" });
    const dump = await libpq("pg_dump", "localhost", cluster.caFile, ["--schema-only"]);
    expect(dump.ok).toBe(true);
    expect(dump.out).toContain("PostgreSQL database dump complete");
  });

  it("when psql and pg_dump run with pgToolEnv and a wrong CA or a host the certificate does not name, then they are refused", async () => {
    for (const tool of ["psql", "pg_dump"] as const) {
      const args = tool === "psql" ? ["-Atc", "select 1"] : ["--schema-only"];
      const wrongCa = await libpq(tool, "localhost", cluster.wrongCaFile, args);
      expect(wrongCa.ok).toBe(false);
      expect(wrongCa.out).toMatch(/certificate verify failed/);
      const wrongName = await libpq(tool, "127.0.0.1", cluster.caFile, args);
      expect(wrongName.ok).toBe(false);
      expect(wrongName.out).toMatch(/does not match host name "127\.0\.0\.1"/);
    }
  });

  it("when no CA is configured, then pgToolEnv adds nothing and with one it asks libpq for verify-full", () => {
    expect(pgToolEnv({ databaseSslCa: undefined })).toEqual({});
    expect(pgToolEnv({ databaseSslCa: "/etc/warden/db-ca.pem" })).toEqual({
      PGSSLMODE: "verify-full",
      PGSSLROOTCERT: "/etc/warden/db-ca.pem",
    });
  });
});
