// Email confirmation and offline development: the mailed link works once, nothing but the link
// itself is mailed to an address before it is confirmed (sign-in notices, 2FA notices, alerts),
// and in development an unreachable breach check is skipped with a notice.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAlertStore } from "../../../src/infra/alerts-store";
import { confirmationToken } from "../../support/email-confirmation";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  createSecrets,
  err,
  errorBody,
  freshIp,
  newPassword,
  sql,
  TRUSTED_LOOPBACK,
  uniqueEmail,
} from "./auth-support";

let w: TestWarden;
let c: AuthClient;

beforeAll(async () => {
  w = await startTestWarden({ env: TRUSTED_LOOPBACK });
  c = new AuthClient(w, createSecrets());
});
afterAll(async () => {
  await w?.stop();
});

const caller = () => c.as(freshIp());
const INVALID_LINK = errorBody(
  "invalid_confirmation_token",
  "This confirmation link is invalid, expired or already used. Sign in and ask for a new one.",
);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Registers without confirming; returns the account and its user id. */
async function unconfirmed(tag: string) {
  const u = caller();
  const email = uniqueEmail(tag);
  const password = newPassword();
  c.secrets.strings.add(password);
  expect((await u.post("/register", { email, password })).status).toBe(202);
  const [row] = await sql<{ id: string }>(w, "select id::text as id from users where email = $1", [
    email,
  ]);
  return { u, email, password, id: row!.id };
}

function alertStore() {
  return createAlertStore(
    async (text, params = []) => {
      let n = 0;
      return sql(
        w,
        text.replace(/\?/g, () => `$${++n}`),
        params,
      );
    },
    { adminTelegramIds: [] },
  );
}

describe("Email confirmation", () => {
  it("when the mailed link is opened, then the address is confirmed, and a second use of it is refused", async () => {
    const { u, email, password } = await unconfirmed("confirm-once");
    const token = await confirmationToken(w.smtp, email);
    c.secrets.strings.add(token);
    const mail = w.smtp.messages.find((m) => m.to.includes(email))!;
    expect(mail.text).toContain(`${w.origin}/confirm-email#token=`);
    expect(
      await sql(w, "select 1 from users where email = $1 and email_confirmed_at is null", [email]),
    ).toHaveLength(1);

    const first = await u.post("/email/confirm", { token });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ message: "Email address confirmed." });
    const again = await u.post("/email/confirm", { token });
    expect(again.status).toBe(400);
    expect(again.body).toEqual(INVALID_LINK);

    const { accessToken } = await u.login(email, password);
    const me = await u.get<{ user: { emailConfirmed: boolean } }>("/me", { token: accessToken });
    expect(me.body.user.emailConfirmed).toBe(true);
  });

  it("when a confirmation token is forged, tampered with or replaced by a resent one, then it is refused", async () => {
    const { u, email, password } = await unconfirmed("confirm-tamper");
    const old = await confirmationToken(w.smtp, email);
    c.secrets.strings.add(old);
    expect((await u.post("/email/confirm", { token: `${old.slice(0, -2)}xx` })).status).toBe(400);
    expect((await u.post("/email/confirm", { token: "x".repeat(43) })).status).toBe(400);
    // Unconfirmed, the right password is told to confirm first; a resent link replaces the first.
    const refused = await u.post("/login", { email, password });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe("email_not_confirmed");
    expect(refused.refresh).toBeUndefined();
    const before = w.smtp.messages.filter((m) => m.to.includes(email)).length;
    expect((await u.post("/email/resend", { email })).status).toBe(202);
    // An unknown address gets the same answer.
    expect((await u.post("/email/resend", { email: uniqueEmail("nobody") })).status).toBe(202);
    await w.smtp.waitForMessage(
      () => w.smtp.messages.filter((m) => m.to.includes(email)).length > before,
    );
    const fresh = await confirmationToken(w.smtp, email);
    c.secrets.strings.add(fresh);
    expect(fresh).not.toBe(old);
    expect((await u.post("/email/confirm", { token: old })).body).toEqual(INVALID_LINK);
    expect((await u.post("/email/confirm", { token: fresh })).status).toBe(200);
  });

  it("when the address is not confirmed, then no sign-in notice and no alert mail goes to it; once confirmed, they do", async () => {
    const { u, email, password, id } = await unconfirmed("notices");
    await confirmationToken(w.smtp, email);
    expect((await u.post("/login", { email, password })).status).toBe(403);
    // A mail queued after the sign-in attempt (the resent link) arrives: a notice would be first.
    expect((await u.post("/email/resend", { email })).status).toBe(202);
    await w.smtp.waitForMessage(
      () => w.smtp.messages.filter((m) => m.to.includes(email)).length >= 2,
    );
    await sleep(500);
    const subjects = w.smtp.messages.filter((m) => m.to.includes(email)).map((m) => m.subject);
    expect(subjects).toEqual([
      "Confirm your email address for Warden",
      "Confirm your email address for Warden",
    ]);
    // The alert dispatch reads its recipients here: no address until it is confirmed.
    expect((await alertStore().recipient(id))?.email).toBeNull();

    const token = await confirmationToken(w.smtp, email);
    c.secrets.strings.add(token);
    expect((await u.post("/email/confirm", { token })).status).toBe(200);
    expect((await alertStore().recipient(id))?.email).toBe(email);
    await u.login(email, password);
    await w.smtp.waitForMessage(
      (m) => m.to.includes(email) && m.subject === "New sign-in to your Warden account",
    );
  });
});

describe("Offline development (HIBP unreachable)", () => {
  let dev: TestWarden;
  const dir = mkdtempSync(join(tmpdir(), "warden-dev-secrets-"));
  beforeAll(async () => {
    // Development defaults: no HIBP_FAIL_MODE given.
    dev = await startTestWarden({
      env: { ...TRUSTED_LOOPBACK, NODE_ENV: "development", DEV_SECRETS_FILE: join(dir, "dev.env") },
    });
  });
  afterAll(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("when HIBP is down in development, then registration succeeds with the skipped-check notice and a warning is logged", async () => {
    const d = new AuthClient(dev, createSecrets()).as(freshIp());
    dev.hibp.set({ status: 503 });
    const email = uniqueEmail("offline");
    const password = newPassword();
    try {
      const res = await d.post("/register", { email, password });
      expect(res.status).toBe(202);
      expect(res.body).toEqual({
        status: "check_your_mail",
        message: "Check your mail: open the link we sent to finish creating your account.",
        notice: "breach_check_skipped",
        noticeMessage:
          "The breached-password check could not be reached, so it was skipped for this password.",
      });
    } finally {
      dev.hibp.set({ status: undefined });
    }
    expect(await sql(dev, "select 1 from users where email = $1", [email])).toHaveLength(1);
    const line = dev.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === "breached-password check unavailable");
    expect(line).toMatchObject({ failMode: "open", outcome: "allowed_unchecked" });
    expect(dev.logs.text()).not.toContain(password);
  });

  it("when HIBP is down with the production default (closed), then registration is refused with 503 as before", async () => {
    // The test service runs NODE_ENV=test, whose default is closed like production's.
    const u = caller();
    w.hibp.set({ status: 503 });
    try {
      const res = await u.post("/register", {
        email: uniqueEmail("closed"),
        password: newPassword(),
      });
      expect(res.status).toBe(503);
      expect(res.body).toEqual(err("breach_check_unavailable"));
    } finally {
      w.hibp.set({ status: undefined });
    }
  });
});
