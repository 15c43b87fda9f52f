// Telegram Mini App initData (S6.2): Telegram's HMAC scheme, checked against a known-answer
// vector built here with node:crypto (and pinned with openssl), plus tampering and freshness.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  InvalidInitData,
  type InvalidInitDataReason,
  signInitData,
  verifyInitData,
} from "../../../../src/domain/accounts/telegram-init-data";

const BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const AUTH_DATE = 1_700_000_000;
const NOW = AUTH_DATE * 1000 + 5_000;
const USER = { id: 279058397, first_name: "Vladislav", username: "vdkfrost", language_code: "ru" };

/** Telegram's algorithm written out independently of the module under test. */
function telegramHash(decodedPairs: Array<[string, string]>, botToken: string): string {
  const secret = createHmac("sha256", "WebAppData").update(botToken).digest();
  const dataCheckString = decodedPairs
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join("\n");
  return createHmac("sha256", secret).update(dataCheckString).digest("hex");
}

function reasonOf(fn: () => unknown): InvalidInitDataReason | "no error" {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInitData);
    return (err as InvalidInitData).reason;
  }
  return "no error";
}

/** Replaces one pair of a URL-encoded initData without re-signing it. */
function withParam(initData: string, key: string, value: string | null): string {
  const params = new URLSearchParams(initData);
  if (value === null) params.delete(key);
  else params.set(key, value);
  return params.toString();
}

describe("verifyInitData", () => {
  it("when initData matches the known-answer vector, then it verifies and returns the user", () => {
    const userJson = JSON.stringify(USER);
    const pairs: Array<[string, string]> = [
      ["query_id", "AAHdF6IQAAAAAN0XohDhrOrc"],
      ["user", userJson],
      ["auth_date", String(AUTH_DATE)],
    ];
    const hash = telegramHash(pairs, BOT_TOKEN);
    // Computed once with `openssl dgst -sha256 -hmac WebAppData` and `-mac HMAC -macopt hexkey:`.
    expect(hash).toBe("738931fb1b7d72a5a2ce53fcf5f1006f0ff9ff1b314928b19568868963100331");
    const initData =
      `query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=${encodeURIComponent(userJson)}` +
      `&auth_date=${AUTH_DATE}&hash=${hash}`;

    const verified = verifyInitData(initData, BOT_TOKEN, { now: NOW });

    expect(verified.user).toEqual(USER);
    expect(verified.authDate).toEqual(new Date(AUTH_DATE * 1000));
    expect(verified.queryId).toBe("AAHdF6IQAAAAAN0XohDhrOrc");
  });

  it("when initData is signed with signInitData, then it verifies", () => {
    const initData = signInitData({ user: USER, auth_date: AUTH_DATE }, BOT_TOKEN);

    const verified = verifyInitData(initData, BOT_TOKEN, { now: NOW });

    expect(verified.user).toEqual(USER);
    expect(verified.queryId).toBeUndefined();
  });

  it("when signInitData signs, then the hash equals the independent computation", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, BOT_TOKEN);
    const params = new URLSearchParams(initData);
    const hash = params.get("hash");
    params.delete("hash");

    expect(hash).toBe(telegramHash([...params], BOT_TOKEN));
  });

  it("when the user JSON is URL-encoded and holds unicode, then it verifies with the decoded name", () => {
    const user = { id: 42, first_name: "Jürgen 🚀 Ñoño", username: "jurgen", language_code: "de" };
    const userJson = JSON.stringify(user);
    const pairs: Array<[string, string]> = [
      ["auth_date", String(AUTH_DATE)],
      ["user", userJson],
    ];
    const initData = `auth_date=${AUTH_DATE}&user=${encodeURIComponent(userJson)}&hash=${telegramHash(pairs, BOT_TOKEN)}`;

    expect(verifyInitData(initData, BOT_TOKEN, { now: NOW }).user).toEqual(user);
  });

  it("when a third-party signature field is present, then it is signed over like any other pair", () => {
    const initData = signInitData(
      { auth_date: AUTH_DATE, signature: "c2lnbmF0dXJl", user: USER },
      BOT_TOKEN,
    );

    expect(verifyInitData(initData, BOT_TOKEN, { now: NOW }).user.id).toBe(USER.id);
    expect(
      reasonOf(() =>
        verifyInitData(withParam(initData, "signature", null), BOT_TOKEN, { now: NOW }),
      ),
    ).toBe("bad_hash");
  });

  it("when a signed field is tampered with, then bad_hash", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, BOT_TOKEN);
    const tampered = withParam(initData, "user", JSON.stringify({ ...USER, id: 1 }));

    expect(reasonOf(() => verifyInitData(tampered, BOT_TOKEN, { now: NOW }))).toBe("bad_hash");
  });

  it("when a field is added after signing, then bad_hash", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, BOT_TOKEN);

    expect(
      reasonOf(() => verifyInitData(`${initData}&start_param=x`, BOT_TOKEN, { now: NOW })),
    ).toBe("bad_hash");
  });

  it("when the hash was made with another bot's token, then bad_hash", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, "987654321:OtherBotToken");

    expect(reasonOf(() => verifyInitData(initData, BOT_TOKEN, { now: NOW }))).toBe("bad_hash");
  });

  it("when the hash is missing, then malformed", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, BOT_TOKEN);

    expect(
      reasonOf(() => verifyInitData(withParam(initData, "hash", null), BOT_TOKEN, { now: NOW })),
    ).toBe("malformed");
  });

  it("when the input is empty, not hex or repeats a key, then malformed", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, BOT_TOKEN);

    expect(reasonOf(() => verifyInitData("", BOT_TOKEN, { now: NOW }))).toBe("malformed");
    expect(
      reasonOf(() => verifyInitData(withParam(initData, "hash", "zz"), BOT_TOKEN, { now: NOW })),
    ).toBe("malformed");
    expect(reasonOf(() => verifyInitData(`auth_date=1&${initData}`, BOT_TOKEN, { now: NOW }))).toBe(
      "malformed",
    );
  });

  it("when auth_date is exactly 24 h old, then it still verifies", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, BOT_TOKEN);

    expect(() =>
      verifyInitData(initData, BOT_TOKEN, { now: (AUTH_DATE + 86_400) * 1000 }),
    ).not.toThrow();
  });

  it("when auth_date is 24 h + 1 s old, then expired", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, BOT_TOKEN);

    expect(
      reasonOf(() => verifyInitData(initData, BOT_TOKEN, { now: (AUTH_DATE + 86_401) * 1000 })),
    ).toBe("expired");
  });

  it("when maxAgeSeconds is shorter, then older initData is expired", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, BOT_TOKEN);

    expect(
      reasonOf(() =>
        verifyInitData(initData, BOT_TOKEN, { now: (AUTH_DATE + 301) * 1000, maxAgeSeconds: 300 }),
      ),
    ).toBe("expired");
  });

  it("when auth_date is more than 60 s in the future, then expired", () => {
    const initData = signInitData({ auth_date: AUTH_DATE + 61, user: USER }, BOT_TOKEN);

    expect(reasonOf(() => verifyInitData(initData, BOT_TOKEN, { now: AUTH_DATE * 1000 }))).toBe(
      "expired",
    );
    const slightlyAhead = signInitData({ auth_date: AUTH_DATE + 60, user: USER }, BOT_TOKEN);
    expect(() => verifyInitData(slightlyAhead, BOT_TOKEN, { now: AUTH_DATE * 1000 })).not.toThrow();
  });

  it("when auth_date is missing or not a number, then malformed", () => {
    expect(
      reasonOf(() =>
        verifyInitData(signInitData({ user: USER }, BOT_TOKEN), BOT_TOKEN, { now: NOW }),
      ),
    ).toBe("malformed");
    expect(
      reasonOf(() =>
        verifyInitData(signInitData({ auth_date: "soon", user: USER }, BOT_TOKEN), BOT_TOKEN, {
          now: NOW,
        }),
      ),
    ).toBe("malformed");
  });

  it("when the signed data carries no user or a user without an id, then missing_user", () => {
    const noUser = signInitData({ auth_date: AUTH_DATE, query_id: "q" }, BOT_TOKEN);
    const noId = signInitData({ auth_date: AUTH_DATE, user: { first_name: "x" } }, BOT_TOKEN);

    expect(reasonOf(() => verifyInitData(noUser, BOT_TOKEN, { now: NOW }))).toBe("missing_user");
    expect(reasonOf(() => verifyInitData(noId, BOT_TOKEN, { now: NOW }))).toBe("missing_user");
  });

  it("when the signed user is not JSON, then malformed", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: "{not json" }, BOT_TOKEN);

    expect(reasonOf(() => verifyInitData(initData, BOT_TOKEN, { now: NOW }))).toBe("malformed");
  });

  it("when verification fails, then the message does not echo the input", () => {
    const initData = signInitData({ auth_date: AUTH_DATE, user: USER }, "987654321:OtherBotToken");

    try {
      verifyInitData(initData, BOT_TOKEN, { now: NOW });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain("vdkfrost");
      expect((err as Error).message).not.toContain(BOT_TOKEN);
    }
  });
});
