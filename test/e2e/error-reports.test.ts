// The real service (src/main.ts) with SENTRY_DSN pointing at an ingestion endpoint on
// 127.0.0.1: an unexpected API error is reported, scrubbed, through the composition root's
// wiring, and a stop signal still ends the process cleanly.
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createTestDatabase, createTestRedis, testEnv } from "../support/context";
import { baseEnv, freePort, spawnProcess, waitForHttp } from "../support/process";
import { eventOf, startSentryServer } from "../support/sentry/server";

const redis = createTestRedis();
afterAll(() => redis.cleanup());

describe("error reports from the running service (S1.4)", () => {
  it("when a login fails with a 500 because the database went away, then Sentry receives the error tagged with its role and route, without the password or any configured secret", async () => {
    const sentry = await startSentryServer();
    const db = await createTestDatabase();
    const port = await freePort();
    const env = testEnv({
      PORT: String(port),
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX: redis.prefix,
      SENTRY_DSN: sentry.dsn,
      BCRYPT_COST: "4",
      LOG_LEVEL: "info",
      WARDEN_ROLES: "api",
    });
    const p = spawnProcess("node", ["--import", "tsx", "src/main.ts"], baseEnv(env));
    try {
      await waitForHttp(`http://127.0.0.1:${port}/healthz`, 200);
      expect(p.output()).toContain("error reports go to Sentry");
      // The database disappears under the running service: its next query fails unexpectedly.
      await db.dropNow();
      const password = `Pw-${randomBytes(12).toString("hex")}`;
      const res = await fetch(`http://127.0.0.1:${port}/api/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "someone@example.com", password }),
      });
      expect(res.status).toBe(500);

      const envelope = await sentry.waitForEvent((e) => {
        const tags = e.tags as Record<string, string> | undefined;
        return tags?.source === "api" && tags.path === "/api/auth/login";
      });
      const event = eventOf(envelope);
      expect(event.tags).toMatchObject({ roles: "api", method: "POST" });
      expect(event.environment).toBe("test");
      const dsnKey = new URL(sentry.dsn).username;
      const eventText = JSON.stringify(event);
      for (const secret of [
        password,
        env.JWT_SECRET,
        env.PASSWORD_PEPPER,
        env.AUDIT_PEPPER,
        env.BACKUP_ENCRYPTION_KEY,
        env.MASTER_KEYS?.split(":")[1],
        dsnKey,
      ]) {
        expect(eventText).not.toContain(secret);
        expect(p.output()).not.toContain(secret);
      }
      expect(envelope.raw).not.toContain(password);
    } finally {
      p.kill("SIGTERM");
      const exit = await p.exited;
      await sentry.close();
      await db.drop();
      expect(exit.code).toBe(0);
    }
  });
});
