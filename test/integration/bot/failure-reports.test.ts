// bot.catch hands an update's unexpected failure to the error reporter (besides the log), and
// the bot goes on answering. Real bot, Telegram emulator.
import { GrammyError } from "grammy";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { helpText } from "../../../src/bot/texts";
import { type BotHarness, startBotHarness } from "../../support/bot-harness";

const reports: Array<{ err: unknown; updateId: number }> = [];
let notify = () => {};
let h: BotHarness;
beforeAll(async () => {
  h = await startBotHarness({
    reportError: (err, context) => {
      reports.push({ err, updateId: context.updateId });
      notify();
    },
  });
});
afterAll(() => h.close());

describe("bot failure reports", () => {
  it("when answering an update fails unexpectedly, then the failure is reported with its update id and the next update is answered", async () => {
    const carol = h.tg.user({ id: 1301, first_name: "Carol" });
    h.tg.failNext("sendMessage", { error_code: 400, description: "Bad Request: chat not found" });
    carol.sendText("/help");
    while (reports.length < 1) await new Promise<void>((r) => (notify = r));

    const report = reports[0];
    expect(report?.err).toBeInstanceOf(GrammyError);
    expect(report?.err instanceof GrammyError && report.err.method).toBe("sendMessage");
    expect(report?.updateId).toEqual(expect.any(Number));
    expect(h.logs.text()).toContain("bot update failed");

    carol.sendText("/help");
    expect((await carol.waitForBotMessage()).text).toBe(helpText());
    expect(reports).toHaveLength(1);
  });
});
