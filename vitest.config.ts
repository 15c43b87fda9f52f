import { defineConfig } from "vitest/config";

// One config for all three tiers. Each test file that needs PostgreSQL/Redis asks
// test/support/context.ts for its own database and key prefix, so files run in parallel.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: process.env.CI ? ["default"] : ["default"],
  },
});
