import { defineConfig } from "vitest/config";

// One config for all three tiers. Each test file that needs PostgreSQL/Redis asks
// test/support/context.ts for its own database and key prefix, so files run in parallel.
// Two files at a time: on the 2-core CI machine vitest's default is one (cores − 1), while most
// of the slow files (fault, e2e, the shared Telegram limiter) spend their time waiting on child
// processes and timers, not on the CPU.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: process.env.CI ? ["default"] : ["default"],
  },
});
