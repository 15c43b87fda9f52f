// /connect through the Telegram emulator with the bot running apart from the signer (issue 19):
// the pasted key is deleted from the chat, sealed to the signer's published intake key and filed
// on the `signer-keys` queue; the signer (the real processor) verifies it at a fake Binance and
// stores it encrypted, or refuses it with today's message. Redis never holds it in clear.
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import { QueueEvents } from "bullmq";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECKING, CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { generateIntakeKey, parseIntakeKeys } from "../../../src/domain/vault";
import type { KeyService } from "../../../src/domain/venues/keys";
import { KeyIntakePending } from "../../../src/domain/venues/sealed-keys";
import { requireMasterKeys } from "../../../src/infra/config";
import { sqlOf } from "../../../src/infra/database";
import { currentIntakePublicKeys } from "../../../src/infra/intake-store";
import { QUEUE_DEFINITIONS, type WorkerPool } from "../../../src/jobs/registry";
import { createSignerKeyClient, type SignerKeyJob } from "../../../src/jobs/signer-keys";
import { sealedKeyService } from "../../../src/wiring/sealed-keys";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";
import { startTestKeySigner } from "../../support/key-signer";
import { scanPostgres, scanRedis } from "../../support/secret-scan";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";

const hex = (n: number) => randomBytes(n).toString("hex");
const goodKey = { apiKey: `QK${hex(30)}`, secret: `QS${hex(30)}` };
const withdrawKey = { apiKey: `QW${hex(30)}`, secret: `QX${hex(30)}` };
const lateKey = { apiKey: `QL${hex(30)}`, secret: `QM${hex(30)}` };
const needles = [goodKey, withdrawKey, lateKey].flatMap((k) => [k.apiKey, k.secret]);
const intakeKeys = parseIntakeKeys(`1:${generateIntakeKey()}`);

let binance: FakeBinance;
let h: BotHarness;
let db: pg.Client;
let orm: MikroORM;
let events: QueueEvents;
let signer: WorkerPool;
let sealed: KeyService;
let sealedWith: (deadlineMs: number) => KeyService;

async function startSigner() {
  signer = await startTestKeySigner({
    orm,
    config: h.config,
    redisUrl: h.redis.url,
    bullPrefix: `${h.redis.prefix}bull`,
    intakeKeys,
  });
}

beforeAll(async () => {
  binance = await startFakeBinance({
    keys: {
      [goodKey.apiKey]: { secret: goodKey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
      [lateKey.apiKey]: { secret: lateKey.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
      [withdrawKey.apiKey]: {
        secret: withdrawKey.secret,
        restrictions: { ...BINANCE_DEFAULT_RESTRICTIONS, enableWithdrawals: true },
      },
    },
  });
  h = await startBotHarness({
    env: { VENUE_URL_BINANCEUSDM: binance.url },
    // The test's own key signer (stopped by a case, and its intake key known to the test)
    // instead of a process; the bot is built without MASTER_KEYS all the same.
    signer: "test",
    // The bot as a process without the signer role wires it (src/roles/services.ts).
    wrapKeys: (direct, ctx) => {
      orm = ctx.orm;
      events = new QueueEvents(QUEUE_DEFINITIONS.signerKeys.name, {
        connection: { url: ctx.redisUrl },
        prefix: ctx.bullPrefix,
      });
      const sql = sqlOf(ctx.orm);
      const client = createSignerKeyClient({ queue: ctx.queues.get("signerKeys"), events });
      sealedWith = (deadlineMs) =>
        sealedKeyService(direct, {
          client,
          publicKeys: () => currentIntakePublicKeys(sql),
          deadlineMs,
        });
      sealed = sealedWith(20_000);
      // The test shortens the bot's wait for one case; the bot keeps this one service.
      return {
        ...direct,
        connect: (...args) => sealed.connect(...args),
        rotate: (...args) => sealed.rotate(...args),
      };
    },
  });
  await events.waitUntilReady();
  await startSigner();
  db = new pg.Client({ connectionString: h.db.url });
  await db.connect();
});

afterAll(async () => {
  await signer?.close(5_000);
  await events?.close();
  await db?.end();
  await h?.close();
  await binance?.close();
  intakeKeys.dispose();
});

type U = ReturnType<BotHarness["tg"]["user"]>;

async function connectAndPaste(u: U, venue: string, text: string) {
  u.sendText("/connect");
  const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
  u.pressButton(menu.message_id, `connect:${venue}`);
  await u.waitForBotMessage((m) => (m.text ?? "").includes("paste in ONE message"));
  const pasted = u.sendText(text);
  const result = await u.waitForBotMessage(
    (m) => m.text !== CHECKING && !(m.text ?? "").includes("paste in ONE message"),
    20_000,
  );
  return { pasted, result };
}

async function keyJobData(): Promise<SignerKeyJob[]> {
  const jobs = await h.queues.get("signerKeys").getJobs(["completed", "failed", "waiting"]);
  return jobs.map((j) => j.data as SignerKeyJob);
}

describe("/connect with the signer apart", () => {
  it("when a trade-only Binance key is pasted, then the message is deleted, the signer stores the key encrypted and usable, and the bot shows it masked", async () => {
    const u = h.tg.user({ id: 6201, first_name: "Sealed" });
    const { pasted, result } = await connectAndPaste(
      u,
      "binanceusdm",
      `${goodKey.apiKey}\n${goodKey.secret}`,
    );
    expect(result.text).toContain("✅ Stored, encrypted.");
    expect(result.text).toContain(`${goodKey.apiKey.slice(0, 4)}…${goodKey.apiKey.slice(-4)}`);
    expect(h.tg.transcript(6201).find((m) => m.message_id === pasted.message_id)?.deleted).toBe(
      true,
    );
    const { rows } = await db.query(
      `select c.secret, c.encryption_key_version from exchange_credentials c
         join users u on u.id = c.user_id where u.telegram_user_id = 6201`,
    );
    expect(rows).toHaveLength(1);
    const secret = requireMasterKeys(h.config).decrypt(
      rows[0].encryption_key_version,
      rows[0].secret,
    );
    expect(secret.equals(Buffer.from(goodKey.secret))).toBe(true);
    secret.fill(0);
    const [job] = await keyJobData();
    expect(job?.envelope).toMatch(/^wsi2\.1\./);
    expect(job?.venue).toBe("binanceusdm");
  });

  it("when a Binance key allows withdrawals, then it is refused with today's message naming enableWithdrawals and nothing is stored", async () => {
    const u = h.tg.user({ id: 6202, first_name: "Greedy" });
    const { result } = await connectAndPaste(
      u,
      "binanceusdm",
      `${withdrawKey.apiKey} ${withdrawKey.secret}`,
    );
    expect(result.text).toMatch(/^Refused: this Binance USD-M key is not trade-only\./);
    expect(result.text).toContain("enableWithdrawals");
    const { rows } = await db.query(
      `select count(*)::int as n from exchange_credentials c
         join users u on u.id = c.user_id where u.telegram_user_id = 6202`,
    );
    expect(rows[0].n).toBe(0);
  });

  it("when the signer is down past the bot's deadline, then the bot says the key is still being checked (not that nothing was stored), and a signer back up stores it", async () => {
    await signer.close(5_000);
    sealed = sealedWith(1_500);
    try {
      const u = h.tg.user({ id: 6203, first_name: "Patient" });
      const { result } = await connectAndPaste(
        u,
        "binanceusdm",
        `${lateKey.apiKey} ${lateKey.secret}`,
      );
      expect(result.text).toBe(new KeyIntakePending().message);
    } finally {
      sealed = sealedWith(20_000);
    }
    await startSigner();
    await expect
      .poll(
        async () =>
          (
            await db.query(
              `select count(*)::int as n from exchange_credentials c
                 join users u on u.id = c.user_id where u.telegram_user_id = 6203`,
            )
          ).rows[0].n,
        { timeout: 20_000, interval: 100 },
      )
      .toBe(1);
  });

  it("when Redis, PostgreSQL, the bot's messages and the log are searched, then no pasted key or secret is in any of them", async () => {
    expect(await scanRedis(h.redis.url, h.redis.prefix, needles)).toEqual([]);
    expect(await scanPostgres(h.db.url, needles)).toEqual([]);
    for (const chat of [6201, 6202, 6203]) {
      for (const m of h.tg.transcript(chat)) {
        if (m.from !== "bot") continue;
        for (const n of needles) expect(m.text ?? "").not.toContain(n);
      }
    }
    for (const n of needles) expect(h.logs.text()).not.toContain(n);
    expect((await keyJobData()).length).toBe(3);
  });
});
