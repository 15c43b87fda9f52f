import { defineConfig } from "vitest/config";

// One config for all three tiers. Each test file that needs PostgreSQL/Redis asks
// test/support/context.ts for its own database and key prefix, so files run in parallel.
//
// Two projects, run one after the other (sequence.groupOrder). "parallel": every file that
// measures nothing against the clock, two at a time (on 2 cores the suite then takes about half
// as long). "alone": the files whose assertions depend on timing or on a quiet machine — the
// load harness (Telegram's emulator answers 429 beyond 30/s; with another file beside it, sends
// leave the shared limiter paced but arrive bunched), the shared Telegram limiter and flood
// tests (timestamps per rolling second), the reset-timing comparison (medians within 10 %), the
// fault scenarios (real processes killed and restarted, job locks and deadlines) and the signer
// kill test — one at a time, after the rest, with nothing else running.
const ALONE = [
  "test/faults/**/*.test.ts",
  "test/e2e/load-harness.test.ts",
  "test/e2e/signer-kill.test.ts",
  "test/e2e/rotation-crash.test.ts",
  "test/integration/infra/telegram-limits.test.ts",
  "test/integration/bot/flood-limits.test.ts",
  "test/integration/api/auth-reset-timing.test.ts",
];

const shared = {
  globalSetup: ["test/support/global-setup.ts"],
  pool: "forks" as const,
  testTimeout: 60_000,
  hookTimeout: 120_000,
  teardownTimeout: 30_000,
};

export default defineConfig({
  test: {
    reporters: ["default"],
    projects: [
      {
        test: {
          ...shared,
          name: "parallel",
          include: ["test/**/*.test.ts"],
          exclude: ALONE,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: "alone",
          include: ALONE,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
