// SIGNER_INTAKE_KEY (issue 19): the signer's versioned X25519 intake keys, parsed once with the
// rest of the configuration, also from a mounted file, never echoed in an error, redacted by the
// scrubber, and generated once in development like MASTER_KEYS.
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateIntakeKey } from "../../../src/domain/vault";
import { ConfigError, loadConfig } from "../../../src/infra/config";
import { ensureDevSecrets } from "../../../src/infra/dev-secrets";
import { testEnv } from "../../support/context";

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("SIGNER_INTAKE_KEY", () => {
  it("when it is absent, then the configuration has no intake ring", () => {
    expect(loadConfig(testEnv()).signerIntakeKey).toBeUndefined();
  });

  it("when it holds two versions, then the highest is current, both open, and each key is listed for the scrubber", () => {
    const [k1, k2] = [generateIntakeKey(), generateIntakeKey()];
    const c = loadConfig(testEnv({ SIGNER_INTAKE_KEY: `1:${k1}\n2:${k2}` }));
    expect(c.signerIntakeKey?.versions).toEqual([1, 2]);
    expect(c.signerIntakeKey?.currentVersion).toBe(2);
    expect(c.secretValues).toEqual(expect.arrayContaining([k1, k2]));
    expect(String(c.signerIntakeKey)).not.toContain(k1);
  });

  it("when it is given as SIGNER_INTAKE_KEY_FILE, then the file is read", () => {
    const key = generateIntakeKey();
    const c = loadConfig(testEnv({ SIGNER_INTAKE_KEY_FILE: "/run/secrets/intake" }), (path) => {
      expect(path).toBe("/run/secrets/intake");
      return `3:${key}\n`;
    });
    expect(c.signerIntakeKey?.currentVersion).toBe(3);
  });

  it("when it is malformed, then the error names SIGNER_INTAKE_KEY and never echoes the key", () => {
    const short = "abcdefghijklmnopqrstuvwxyz0123";
    const err = configError(() => loadConfig(testEnv({ SIGNER_INTAKE_KEY: `1:${short}` })));
    expect(err.variable).toBe("SIGNER_INTAKE_KEY");
    expect(err.message).not.toContain(short);
    expect(configError(() => loadConfig(testEnv({ SIGNER_INTAKE_KEY: "nonsense" }))).variable).toBe(
      "SIGNER_INTAKE_KEY",
    );
  });

  it("when development secrets are generated, then SIGNER_INTAKE_KEY is among them, mode 0600, and it loads", () => {
    const file = join(mkdtempSync(join(tmpdir(), "warden-intake-")), "secrets.env");
    const { env, generated } = ensureDevSecrets({}, file);
    expect(generated).toContain("SIGNER_INTAKE_KEY");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8")).toMatch(/^SIGNER_INTAKE_KEY=1:[A-Za-z0-9_-]{43}$/m);
    const c = loadConfig({ ...testEnv(), SIGNER_INTAKE_KEY: env.SIGNER_INTAKE_KEY });
    expect(c.signerIntakeKey?.currentVersion).toBe(1);
    // The same key on the next start.
    expect(ensureDevSecrets({}, file).env.SIGNER_INTAKE_KEY).toBe(env.SIGNER_INTAKE_KEY);
  });

  it("when a development process without the signer role takes its secrets, then MASTER_KEYS and SIGNER_INTAKE_KEY stay in the file for the signer and out of its environment", () => {
    const file = join(mkdtempSync(join(tmpdir(), "warden-intake-")), "secrets.env");
    const apart = ensureDevSecrets({}, file, { signer: false });
    expect(apart.env.MASTER_KEYS).toBeUndefined();
    expect(apart.env.SIGNER_INTAKE_KEY).toBeUndefined();
    expect(apart.env.ACCOUNT_KEYS).toMatch(/^1:/);
    // The signer started next takes the same file's keys.
    const signer = ensureDevSecrets({}, file);
    expect(signer.generated).toEqual([]);
    expect(readFileSync(file, "utf8")).toContain(`MASTER_KEYS=${signer.env.MASTER_KEYS}`);
    expect(signer.env.SIGNER_INTAKE_KEY).toMatch(/^1:/);
    expect(signer.env.ACCOUNT_KEYS).toBe(apart.env.ACCOUNT_KEYS);
  });
});
