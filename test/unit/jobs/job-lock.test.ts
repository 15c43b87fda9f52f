// JOB_LOCK_MAX_MS: how soon a dead worker's job is redelivered. Unset, every queue keeps its own
// lock (production); set, it caps them, within bounds that keep running jobs from being redelivered.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/infra/config";
import { lockDurationOf, QUEUE_DEFINITIONS } from "../../../src/jobs/registry";
import { testEnv } from "../../support/context";

function variableOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).variable;
  }
  throw new Error("expected a ConfigError");
}

describe("JOB_LOCK_MAX_MS", () => {
  it("when it is unset or empty, then every queue keeps its own lock", () => {
    for (const value of [undefined, "", " "]) {
      const { jobLockMaxMs } = loadConfig(testEnv({ JOB_LOCK_MAX_MS: value }));
      expect(jobLockMaxMs).toBeUndefined();
      for (const def of Object.values(QUEUE_DEFINITIONS)) {
        expect(lockDurationOf(def, jobLockMaxMs)).toBe(def.lockDurationMs);
      }
    }
    expect(lockDurationOf(QUEUE_DEFINITIONS.backup)).toBe(60_000);
    expect(lockDurationOf(QUEUE_DEFINITIONS.email)).toBe(30_000);
    expect(lockDurationOf(QUEUE_DEFINITIONS.vault)).toBe(10_000);
  });

  it("when it is set, then it caps each queue's lock and never lengthens one", () => {
    const { jobLockMaxMs } = loadConfig(testEnv({ JOB_LOCK_MAX_MS: "20000" }));
    expect(jobLockMaxMs).toBe(20_000);
    expect(lockDurationOf(QUEUE_DEFINITIONS.backup, jobLockMaxMs)).toBe(20_000);
    expect(lockDurationOf(QUEUE_DEFINITIONS.email, jobLockMaxMs)).toBe(20_000);
    expect(lockDurationOf(QUEUE_DEFINITIONS.vault, jobLockMaxMs)).toBe(10_000);
  });

  it.each(["1999", "60001", "3.5s", "-3000"])(
    "when it is %s, then start-up fails naming it",
    (value) => {
      expect(variableOf(() => loadConfig(testEnv({ JOB_LOCK_MAX_MS: value })))).toBe(
        "JOB_LOCK_MAX_MS",
      );
    },
  );
});
