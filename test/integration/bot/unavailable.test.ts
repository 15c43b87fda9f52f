// When PostgreSQL stops taking connections mid-session (a restart, maintenance), a user's
// command gets a clear "briefly unavailable" answer instead of silence, nothing is reported as a
// bug, and the bot answers normally as soon as the database is back. Real bot, emulator, and the
// harness's own database closed to connections with ALLOW_CONNECTIONS.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { BRIEFLY_UNAVAILABLE, WELCOME } from "../../../src/bot/texts";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";

const reports: unknown[] = [];
let h: BotHarness;
beforeAll(async () => {
  h = await startBotHarness({ reportError: (err) => reports.push(err) });
});
afterAll(() => h.close());

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${inject("pgServerUrl")}/postgres` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

describe("bot while the database is away", () => {
  it("when the database refuses connections, then a command is answered 'briefly unavailable' and not reported; once it is back, the same command works", async () => {
    const dana = h.tg.user({ id: 1401, first_name: "Dana" });
    dana.sendText("/start");
    expect((await dana.waitForBotMessage()).text).toBe(WELCOME);

    await admin(`alter database "${h.db.name}" allow_connections false`);
    await admin(
      `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${h.db.name}'`,
    );
    try {
      dana.sendText("/start");
      expect((await dana.waitForBotMessage(undefined, 20_000)).text).toBe(BRIEFLY_UNAVAILABLE);
    } finally {
      await admin(`alter database "${h.db.name}" allow_connections true`);
    }
    expect(reports).toEqual([]);
    expect(h.logs.text()).toContain("a dependency is unavailable");

    dana.sendText("/start");
    expect((await dana.waitForBotMessage(undefined, 20_000)).text).toBe(WELCOME);
  });
});
