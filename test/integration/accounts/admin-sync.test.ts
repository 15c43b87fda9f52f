// Admin status follows ADMIN_TELEGRAM_IDS on every start (issue 15): an id added is promoted,
// an id removed is demoted, and each change is a security event.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber } from "../../../src/infra/scrub";
import { startWarden } from "../../../src/main";
import { captureLogs } from "../../support/log-capture";
import { freePort } from "../../support/process";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import { sql } from "../api/auth-support";

let w: TestWarden;
beforeAll(async () => {
  w = await startTestWarden({ env: { ADMIN_TELEGRAM_IDS: "7710001" }, roles: ["api"] });
});
afterAll(async () => {
  await w?.stop();
});

const roles = async () =>
  await sql<{ tg: string; role: string }>(
    w,
    "select telegram_user_id::text as tg, role from users where telegram_user_id in (7710001, 7710002) order by 1",
  );

describe("admin status follows ADMIN_TELEGRAM_IDS", () => {
  it("when the service starts with an id removed and another added, then the first is demoted, the second promoted, both as security events", async () => {
    await sql(
      w,
      "insert into users (telegram_user_id, role) values (7710001, 'admin'), (7710002, 'user')",
    );
    const again = await startWarden({
      env: { ...w.env, PORT: String(await freePort()), ADMIN_TELEGRAM_IDS: "7710002" },
      roles: ["api"],
      logger: createLogger({
        level: "warn",
        pretty: false,
        scrubber: createScrubber(),
        destination: captureLogs().stream,
      }),
    });
    try {
      expect(await roles()).toEqual([
        { tg: "7710001", role: "user" },
        { tg: "7710002", role: "admin" },
      ]);
      const events = await sql<{ tg: string; kind: string }>(
        w,
        `select u.telegram_user_id::text as tg, e.kind from security_events e
         join users u on u.id = e.user_id where e.kind like 'admin_%' order by 1`,
      );
      expect(events).toEqual([
        { tg: "7710001", kind: "admin_demoted" },
        { tg: "7710002", kind: "admin_promoted" },
      ]);
    } finally {
      await again.shutdown.run("test finished");
    }
  });
});
