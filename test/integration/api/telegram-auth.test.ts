// Mini App sign-in (S6.2): POST /api/auth/telegram verifies initData against the bot token and
// signs the Telegram user in; tampered, foreign or stale initData gets 401.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signInitData } from "../../../src/domain/accounts/telegram-init-data";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const botToken = `${1000000 + Math.floor(Math.random() * 1000000)}:${randomBytes(27).toString("base64url")}`;
let w: TestWarden;
beforeAll(async () => {
  w = await startTestWarden({ env: { TELEGRAM_BOT_TOKEN: botToken } });
});
afterAll(() => w.stop());

const initData = (over: Record<string, string | number | object> = {}, token = botToken) =>
  signInitData(
    {
      auth_date: Math.floor(Date.now() / 1000),
      query_id: "AAH",
      user: { id: 880001, first_name: "Mini" },
      ...over,
    },
    token,
  );

const post = (body: unknown) =>
  fetch(`${w.base}/api/auth/telegram`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("Telegram Mini App sign-in (S6.2)", () => {
  it("when initData is signed with the bot token, then the Telegram user is signed in with a refresh cookie", async () => {
    const res = await post({ initData: initData() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accessToken: string; expiresIn: number };
    expect(body.expiresIn).toBe(900);
    expect(res.headers.get("set-cookie")).toMatch(
      /^__Secure-warden_refresh=[A-Za-z0-9_-]{43}; HttpOnly; Secure; SameSite=Strict; Path=\/api\/auth$/,
    );
    const sessions = await fetch(`${w.base}/api/auth/sessions`, {
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    expect(sessions.status).toBe(200);
  });

  it("when a field is changed after signing, then it is refused with 401", async () => {
    const tampered = initData().replace("Mini", "Evil");
    const res = await post({ initData: tampered });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: "invalid_token",
      message: "Your session is not valid. Please sign in again.",
    });
  });

  it("when initData was signed with another bot's token, then it is refused", async () => {
    const other = `${botToken.split(":")[0]}:${randomBytes(27).toString("base64url")}`;
    expect((await post({ initData: initData({}, other) })).status).toBe(401);
  });

  it("when auth_date is older than 24 hours, then it is refused", async () => {
    const stale = initData({ auth_date: Math.floor(Date.now() / 1000) - 86_401 });
    expect((await post({ initData: stale })).status).toBe(401);
  });

  it("when the body lacks initData, then it is a 400 naming the field", async () => {
    const res = await post({});
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: "invalid_request",
      message: "Missing or invalid field: initData.",
    });
  });
});
