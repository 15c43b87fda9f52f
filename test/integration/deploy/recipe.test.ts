// The deployment recipe's files: deploy/.env.example is a complete, valid production
// configuration without a secret in it, and the systemd units pass systemd's own verification and
// start the role their name promises.
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { generateIntakeKey } from "../../../src/domain/vault";
import {
  CONFIG_VARIABLES,
  loadConfig,
  requireMasterKeys,
  SECRET_VARIABLES,
} from "../../../src/infra/config";
import { parseRolesFlag } from "../../../src/main";
import { fernetKey, randomSecret } from "../../support/context";
import { REPO_ROOT } from "../../support/process";

const DEPLOY = join(REPO_ROOT, "deploy");
const example = readFileSync(join(DEPLOY, ".env.example"), "utf8");

/** NAME=value lines as systemd's EnvironmentFile reads them (comments skipped, quotes removed). */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m?.[1]) continue;
    const raw = m[2] ?? "";
    env[m[1]] = /^".*"$/.test(raw) ? raw.slice(1, -1) : raw;
  }
  return env;
}

/** What a secrets manager would mount, by file name. */
function mountedSecret(path: string): string {
  const name = path.split("/").at(-1) ?? "";
  const values: Record<string, string> = {
    master_keys: `1:${fernetKey()}`,
    signer_intake_key: `1:${generateIntakeKey()}`,
    account_keys: `1:${fernetKey()}`,
    backup_encryption_key: fernetKey(),
    jwt_secret: randomSecret(),
    password_pepper: randomSecret(),
    audit_pepper: randomSecret(),
    smtp_url: "smtps://warden:pw@smtp.example.com:465",
    telegram_bot_token: `123456789:${randomSecret()}`,
    sentry_dsn: "https://0123456789abcdef@o1.ingest.sentry.io/42",
    "db-ca.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  };
  const value = values[name];
  if (value === undefined) throw Object.assign(new Error(path), { code: "ENOENT" });
  return value;
}

describe("deployment recipe", () => {
  it("when .env.example is read, then it names every configuration variable and gives every secret only as a *_FILE path", () => {
    const mentioned = (name: string) => new RegExp(`^#? ?${name}=`, "m").test(example);
    const secrets = SECRET_VARIABLES as readonly string[];
    for (const name of CONFIG_VARIABLES) {
      if (secrets.includes(name)) {
        expect(mentioned(`${name}_FILE`), `${name}_FILE`).toBe(true);
        expect(mentioned(name), `${name} must not be given inline`).toBe(false);
      } else {
        expect(mentioned(name), name).toBe(true);
      }
    }
    for (const [name, value] of Object.entries(parseEnvFile(example))) {
      if (name.endsWith("_FILE") || name === "PGPASSFILE") {
        expect(value, name).toMatch(/^\/run\/secrets\/warden\/[a-z_]+$/);
      }
    }
    // No password in a URL.
    expect(example).not.toMatch(/:\/\/[^/\s@]*:[^/\s@]+@/);
  });

  it("when .env.example is loaded with its secret files mounted, then it is a valid production configuration", () => {
    // The api, bot and worker units (--roles): warden.env holds no MASTER_KEYS (issue 19).
    const config = loadConfig(
      { ...parseEnvFile(example), WARDEN_ROLES: "api,bot,worker" },
      mountedSecret,
    );
    expect(config.masterKeys).toBeUndefined();
    expect(config.nodeEnv).toBe("production");
    expect(config.databaseSslCa).toBe("/etc/warden/db-ca.pem");
    expect(config.trustedProxies).toEqual(["127.0.0.1"]);
    expect(config.sentryDsn).toMatch(/^https:/);
    expect(config.mailFrom).toBe("Warden <no-reply@warden.example.com>");
    expect(config.vaultRotationCron).toBe("17 3 * * *");
  });

  it("when signer.env.example is read after .env.example, then it names the master key ring's and the intake key's files and a database login and password file of the signer's own, and the result is a valid production configuration", () => {
    const signerText = readFileSync(join(DEPLOY, "signer.env.example"), "utf8");
    const signerEnv = parseEnvFile(signerText);
    const shared = parseEnvFile(example);
    expect(signerEnv).toEqual({
      MASTER_KEYS_FILE: "/run/secrets/warden/master_keys",
      SIGNER_INTAKE_KEY_FILE: "/run/secrets/warden/signer_intake_key",
      DATABASE_URL: "postgres://warden_signer_service@db.internal.example:5432/warden",
      PGPASSFILE: "/run/secrets/warden/signer_pgpass",
    });
    // Its own login (a warden_signer member) and its own password file, not the other units'.
    expect(new URL(signerEnv.DATABASE_URL!).username).not.toBe(
      new URL(shared.DATABASE_URL!).username,
    );
    expect(signerEnv.PGPASSFILE).not.toBe(shared.PGPASSFILE);
    expect(signerText).not.toMatch(/:\/\/[^/\s@]*:[^/\s@]+@/);
    const config = loadConfig({ ...shared, ...signerEnv, WARDEN_ROLES: "signer" }, mountedSecret);
    expect(requireMasterKeys(config).currentVersion).toBe(1);
    expect(config.signerIntakeKey?.currentVersion).toBe(1);
    expect(config.databaseUrl).toBe(signerEnv.DATABASE_URL);
  });

  it("when the systemd units are verified by systemd-analyze, then they have no error and each starts its own role", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-units-"));
    try {
      const units = readdirSync(join(DEPLOY, "systemd"));
      for (const u of units) copyFileSync(join(DEPLOY, "systemd", u), join(dir, u));
      const result = await promisify(execFile)(
        "systemd-analyze",
        ["verify", "--man=no", ...units.map((u) => join(dir, u))],
        { env: { PATH: process.env.PATH, SYSTEMD_LOG_LEVEL: "notice" } },
      ).then(
        ({ stdout, stderr }) => ({ ok: true, out: stdout + stderr }),
        (err: { stdout?: string; stderr?: string }) => ({
          ok: false,
          out: `${err.stdout ?? ""}${err.stderr ?? ""}`,
        }),
      );
      expect(result).toEqual({ ok: true, out: "" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const roleOf = (unit: string) => {
      const text = readFileSync(join(DEPLOY, "systemd", unit), "utf8");
      const exec = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? "";
      return parseRolesFlag(exec.split(" "));
    };
    expect(roleOf("warden-api@.service")).toEqual(["api"]);
    expect(roleOf("warden-bot.service")).toEqual(["bot"]);
    expect(roleOf("warden-worker@.service")).toEqual(["worker"]);
    expect(roleOf("warden-signer.service")).toEqual(["signer"]);
    // The signer's own environment file (where MASTER_KEYS can live alone) is read by its unit
    // only, after the shared one so that it wins.
    for (const unit of readdirSync(join(DEPLOY, "systemd"))) {
      const files = [
        ...readFileSync(join(DEPLOY, "systemd", unit), "utf8").matchAll(/^EnvironmentFile=(.*)$/gm),
      ].map((m) => m[1]);
      if (unit === "warden-signer.service") {
        expect(files).toEqual(["/etc/warden/warden.env", "/etc/warden/signer.env"]);
      } else {
        expect(files, unit).not.toContain("/etc/warden/signer.env");
      }
    }
    expect(readFileSync(join(DEPLOY, "systemd", "warden-api@.service"), "utf8")).toMatch(
      /^Environment=PORT=%i$/m,
    );
  });
});
