// /connect with a testnet key through the Telegram emulator (issue 16): the "🧪 … testnet" button
// leads to the testnet instructions, the pasted key is verified against the venue's testnet
// (a second fake), never the mainnet one, and /keys labels it testnet.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECKING, CHOOSE_VENUE } from "../../../src/bot/features/keys";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";
import {
  BINANCE_DEFAULT_RESTRICTIONS,
  type FakeBinance,
  startFakeBinance,
} from "../../support/venues/binance";

const hex = (n: number) => randomBytes(n).toString("hex");
const key = { apiKey: `TK${hex(30)}`, secret: `TS${hex(30)}` };

let mainnet: FakeBinance;
let testnet: FakeBinance;
let h: BotHarness;

beforeAll(async () => {
  const keys = {
    [key.apiKey]: { secret: key.secret, restrictions: BINANCE_DEFAULT_RESTRICTIONS },
  };
  mainnet = await startFakeBinance({ keys });
  testnet = await startFakeBinance({ keys });
  h = await startBotHarness({
    env: {
      VENUE_URL_BINANCEUSDM: mainnet.url,
      VENUE_TESTNET_URL_BINANCEUSDM: testnet.url,
    },
  });
});
afterAll(async () => {
  await h.close();
  await mainnet.close();
  await testnet.close();
});

describe("/connect on a testnet", () => {
  it("when the Binance testnet button is chosen and a key pasted, then it is verified on the testnet fake only and listed as testnet", async () => {
    const u = h.tg.user({ id: 6101, first_name: "Tess" });
    u.sendText("/connect");
    const menu = await u.waitForBotMessage((m) => m.text === CHOOSE_VENUE);
    u.pressButton(menu.message_id, "connect:binanceusdm:testnet");
    const instructions = await u.waitForBotMessage((m) =>
      (m.text ?? "").includes("paste in ONE message"),
    );
    expect(instructions.text).toContain(
      "🧪 TESTNET: create the key on testnet.binancefuture.com (test funds only)",
    );
    u.sendText(`${key.apiKey}\n${key.secret}`);
    const result = await u.waitForBotMessage((m) => m.text !== CHECKING, 15_000);
    expect(result.text).toMatch(/^✅ Stored, encrypted\. #\d+ 🧪 Binance USD-M testnet — /);

    expect(testnet.requests.map((r) => r.path)).toContain("/fapi/v1/positionSide/dual");
    expect(mainnet.requests).toEqual([]);

    u.sendText("/keys");
    const list = await u.waitForBotMessage((m) => (m.text ?? "").startsWith("Your keys:"));
    expect(list.text).toContain("🧪 Binance USD-M testnet — Binance USD-M testnet — TK");
  });
});
