// Acceptance tests of registration and passwords over HTTP against the running service (S2):
// bcrypt cost and peppered pre-hash, no truncation at 72 bytes, length rules in code points,
// the HIBP breach check (k-anonymity, padding, timeout, fail closed/open) and password change.
import { createHmac } from "node:crypto";
import bcrypt from "bcrypt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import {
  AuthClient,
  breachedErr,
  createSecrets,
  err,
  expectNoLeaksAndNoStore,
  freshIp,
  newPassword,
  sha1Hex,
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
const CHECK_YOUR_MAIL = {
  status: "check_your_mail",
  message: "Check your mail: open the link we sent to finish creating your account.",
};
const repeat = (s: string, n: number) => Array.from({ length: n }, () => s).join("");

async function storedHash(warden: TestWarden, email: string): Promise<string> {
  const rows = await sql<{ password_hash: string }>(
    warden,
    "select password_hash from users where email = $1",
    [email],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!.password_hash;
}

describe("Registration", () => {
  it("when a new email registers, then 202 says to check the mail and the account is stored lower-cased", async () => {
    const u = caller();
    const password = newPassword();
    c.secrets.strings.add(password);
    const mixed = `Mixed-${Date.now()}@Example.COM`;
    const res = await u.post("/register", { email: mixed, password });
    expect(res.status).toBe(202);
    expect(res.body).toEqual(CHECK_YOUR_MAIL);
    expect(res.refresh).toBeUndefined();
    expect(
      await sql(w, "select 1 from users where email = $1", [mixed.toLowerCase()]),
    ).toHaveLength(1);
    // It signs in once the address is confirmed.
    expect((await u.post("/login", { email: mixed.toLowerCase(), password })).status).toBe(403);
  });

  it("when an already-registered email registers again, in any letter case, then the answer is identical to a new email's and only the owner is told", async () => {
    const u = caller();
    const { email, password } = await u.register();
    const known = await u.post("/register", {
      email: email.toUpperCase(),
      password: newPassword(),
    });
    const unknown = await u.post("/register", {
      email: uniqueEmail("fresh"),
      password: newPassword(),
    });
    expect(known.status).toBe(unknown.status);
    expect(known.body).toEqual(unknown.body);
    expect(known.status).toBe(202);
    expect(known.body).toEqual(CHECK_YOUR_MAIL);
    const notice = await w.smtp.waitForMessage(
      (m) => m.to.includes(email) && m.subject.includes("tried to create"),
    );
    expect(notice.text).toContain(`${w.origin}/reset-password`);
    // The first account and its password are untouched.
    expect(await sql(w, "select 1 from users where email = $1", [email])).toHaveLength(1);
    expect((await u.post("/login", { email, password })).status).toBe(200);
  });

  it("when the email is malformed, then 400 invalid_email", async () => {
    const res = await caller().post("/register", {
      email: "not-an-email",
      password: newPassword(),
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(err("invalid_email"));
  });
});

describe("Length rules in code points, any Unicode (S2.2)", () => {
  it("when the password has 7 characters, then 400 password_too_short; with 8, it registers and signs in", async () => {
    const u = caller();
    const short = await u.post("/register", { email: uniqueEmail("len7"), password: "kq7#xZp" });
    expect(short.status).toBe(400);
    expect(short.body).toEqual(err("password_too_short"));

    const { email, password } = await u.register(uniqueEmail("len8"), "kq7#xZpw");
    expect((await u.post("/login", { email, password })).status).toBe(200);
  });

  it("when the password has 129 code points, then 400 password_too_long; with 128, it registers and signs in", async () => {
    const u = caller();
    const base = newPassword();
    const p128 = (base + repeat("x", 128)).slice(0, 128);
    const p129 = `${p128}y`;
    c.secrets.strings.add(p128);
    const long = await u.post("/register", { email: uniqueEmail("len129"), password: p129 });
    expect(long.status).toBe(400);
    expect(long.body).toEqual(err("password_too_long"));

    const { email } = await u.register(uniqueEmail("len128"), p128);
    expect((await u.post("/login", { email, password: p128 })).status).toBe(200);
  });

  it("when the password is emoji only, then 8 are enough, 7 are too short, 128 are allowed and 129 too long", async () => {
    const u = caller();
    // Each emoji is one code point but two UTF-16 units and four UTF-8 bytes.
    const seven = "🦊🐙🌵🚀🎲🧲🪐";
    const eight = `${seven}🍋`;
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => String.fromCodePoint(0x1f600 + (i % 64))).join("");

    expect(seven.length).toBe(14);
    const r7 = await u.post("/register", { email: uniqueEmail("emoji7"), password: seven });
    expect(r7.status).toBe(400);
    expect(r7.body).toEqual(err("password_too_short"));

    const a = await u.register(uniqueEmail("emoji8"), eight);
    expect((await u.post("/login", { email: a.email, password: eight })).status).toBe(200);
    expect((await u.post("/login", { email: a.email, password: seven })).status).toBe(401);

    const b = await u.register(uniqueEmail("emoji128"), many(128));
    expect((await u.post("/login", { email: b.email, password: many(128) })).status).toBe(200);

    const r129 = await u.post("/register", { email: uniqueEmail("emoji129"), password: many(129) });
    expect(r129.status).toBe(400);
    expect(r129.body).toEqual(err("password_too_long"));
  });

  it("when the password has no digits, capitals or symbols, then it is accepted (no composition rules)", async () => {
    const u = caller();
    const plain = `plain lowercase words ${Date.now().toString(36).replace(/\d/g, "q")}`;
    const { email } = await u.register(uniqueEmail("plain"), plain);
    expect((await u.post("/login", { email, password: plain })).status).toBe(200);
  });

  it("when an accented password is typed decomposed (NFD), then it matches the composed (NFC) one", async () => {
    const u = caller();
    const composed = `Été-café-${newPassword()}`.normalize("NFC");
    const decomposed = composed.normalize("NFD");
    expect(decomposed).not.toBe(composed);
    const { email } = await u.register(uniqueEmail("nfc"), composed);
    expect((await u.post("/login", { email, password: decomposed })).status).toBe(200);
  });
});

describe("Hashing (S2.1)", () => {
  it("when a 73-byte and a 74-byte password share their first 72 bytes, then neither signs in as the other", async () => {
    const u = caller();
    const first72 = (newPassword() + repeat("z", 72)).slice(0, 72);
    const p73 = `${first72}A`;
    const p74 = `${first72}BC`;
    expect(Buffer.byteLength(p73)).toBe(73);
    expect(Buffer.byteLength(p74)).toBe(74);
    const a = await u.register(uniqueEmail("b73"), p73);
    const b = await u.register(uniqueEmail("b74"), p74);

    const wrongA = await u.post("/login", { email: a.email, password: p74 });
    expect(wrongA.status).toBe(401);
    expect(wrongA.body).toEqual(err("invalid_credentials"));
    const wrongB = await u.post("/login", { email: b.email, password: p73 });
    expect(wrongB.status).toBe(401);
    expect((await u.post("/login", { email: a.email, password: first72 })).status).toBe(401);

    expect((await u.post("/login", { email: a.email, password: p73 })).status).toBe(200);
    expect((await u.post("/login", { email: b.email, password: p74 })).status).toBe(200);
  });

  it("when a password is stored, then it is a bcrypt hash of base64(HMAC-SHA-256(pepper, password)), never of the password itself", async () => {
    const u = caller();
    const { email, password } = await u.register(uniqueEmail("hash"));
    const hash = await storedHash(w, email);
    expect(hash).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}$/); // BCRYPT_COST is 4 in this warden
    const prehash = createHmac("sha256", Buffer.from(w.env.PASSWORD_PEPPER as string, "utf8"))
      .update(password, "utf8")
      .digest("base64");
    expect(await bcrypt.compare(prehash, hash)).toBe(true);
    expect(await bcrypt.compare(password, hash)).toBe(false);
  });

  describe("with the production cost", () => {
    let w12: TestWarden;
    let c12: AuthClient;
    beforeAll(async () => {
      w12 = await startTestWarden({ env: { ...TRUSTED_LOOPBACK, BCRYPT_COST: "12" } });
      c12 = new AuthClient(w12, createSecrets());
    });
    afterAll(async () => {
      await w12?.stop();
    });

    it("when BCRYPT_COST is 12, then the stored hash starts with $2b$12$ and the password signs in", async () => {
      const u = c12.as(freshIp());
      const { email, password } = await u.register(uniqueEmail("cost12"));
      const hash = await storedHash(w12, email);
      expect(hash.startsWith("$2b$12$")).toBe(true);
      expect(hash).toHaveLength(60);
      expect((await u.post("/login", { email, password })).status).toBe(200);
    });

    it("when the email is unknown, then the answer takes about as long as for a wrong password (dummy bcrypt, S3.1)", async () => {
      const u = c12.as(freshIp());
      const { email } = await u.register(uniqueEmail("timing"));
      const timed = async (body: { email: string; password: string }) => {
        const t0 = performance.now();
        const res = await u.post("/login", body);
        expect(res.status).toBe(401);
        return performance.now() - t0;
      };
      const known: number[] = [];
      const unknown: number[] = [];
      // Interleaved, so load from parallel test files hits both sides alike; 4 < lockout of 5.
      for (let i = 0; i < 4; i++) {
        known.push(await timed({ email, password: newPassword() }));
        unknown.push(await timed({ email: uniqueEmail("ghost"), password: newPassword() }));
      }
      const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
      const ratio = median(unknown) / median(known);
      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
    });
  });
});

describe("Breached passwords via HIBP (S2.3)", () => {
  it("when the password is in a breach, then registration is refused with 400 password_breached saying how many times it was breached", async () => {
    const u = caller();
    const email = uniqueEmail("breached");
    const res = await u.post("/register", { email, password: "correct horse battery staple" });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(breachedErr(1001));
    expect(await sql(w, "select 1 from users where email = $1", [email])).toEqual([]);
  });

  it("when a password is checked, then only the first 5 hex chars of its SHA-1 leave, with Add-Padding: true", async () => {
    const u = caller();
    const before = w.hibp.requests.length;
    const { password } = await u.register(uniqueEmail("kanon"));
    const sent = w.hibp.requests.slice(before);
    const hash = sha1Hex(password);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.method).toBe("GET");
    expect(sent[0]!.path).toBe(`/range/${hash.slice(0, 5)}`);
    expect(sent[0]!.headers["add-padding"]).toBe("true");
    expect(sent[0]!.body).toBe("");
    const wire = JSON.stringify(sent[0]).toUpperCase();
    expect(wire.includes(hash.slice(5))).toBe(false);
    expect(wire.includes(password.toUpperCase())).toBe(false);
  });

  it("when HIBP pads its answer with count-0 lines, then an unbreached password is still accepted", async () => {
    w.hibp.set({ padding: 900 });
    try {
      await caller().register(uniqueEmail("padded"));
    } finally {
      w.hibp.set({ padding: 0 });
    }
  });

  it("when HIBP fails and HIBP_FAIL_MODE is closed (the default), then 503 breach_check_unavailable, no account, and the decision is logged", async () => {
    const u = caller();
    const email = uniqueEmail("hibpdown");
    const password = newPassword();
    c.secrets.strings.add(password);
    w.hibp.set({ status: 503 });
    try {
      const res = await u.post("/register", { email, password });
      expect(res.status).toBe(503);
      expect(res.body).toEqual(err("breach_check_unavailable"));
    } finally {
      w.hibp.set({ status: undefined });
    }
    expect(await sql(w, "select 1 from users where email = $1", [email])).toEqual([]);
    const line = w.logs.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === "breached-password check unavailable");
    expect(line).toMatchObject({ failMode: "closed", outcome: "refused" });
  });

  it("when HIBP does not answer within 2 s, then the check gives up and registration gets 503", async () => {
    const u = caller();
    w.hibp.set({ delayMs: 4_000 });
    const t0 = performance.now();
    try {
      const res = await u.post("/register", {
        email: uniqueEmail("slow"),
        password: newPassword(),
      });
      expect(res.status).toBe(503);
      expect(res.body).toEqual(err("breach_check_unavailable"));
    } finally {
      w.hibp.set({ delayMs: 0 });
    }
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThan(1_900);
    expect(elapsed).toBeLessThan(3_500);
  });

  describe("with HIBP_FAIL_MODE=open", () => {
    let wo: TestWarden;
    let co: AuthClient;
    beforeAll(async () => {
      wo = await startTestWarden({ env: { ...TRUSTED_LOOPBACK, HIBP_FAIL_MODE: "open" } });
      co = new AuthClient(wo, createSecrets());
    });
    afterAll(async () => {
      await wo?.stop();
    });

    it("when HIBP fails, then registration is allowed unchecked and that is logged; a breached password is still refused while HIBP is up", async () => {
      const u = co.as(freshIp());
      wo.hibp.set({ status: 503 });
      const { email, password } = await u.register(uniqueEmail("open"));
      wo.hibp.set({ status: undefined });
      expect((await u.post("/login", { email, password })).status).toBe(200);
      const line = wo.logs.lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === "breached-password check unavailable");
      expect(line).toMatchObject({ failMode: "open", outcome: "allowed_unchecked" });
      expect(wo.logs.text().includes(password)).toBe(false);

      const res = await u.post("/register", {
        email: uniqueEmail("open2"),
        password: "password123",
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual(breachedErr(1000));
    });
  });
});

describe("Password change (S2.4)", () => {
  it("when the current password is wrong, then 401 invalid_credentials and the password stays", async () => {
    const u = caller();
    const s = await u.signedUp("chg-wrong");
    const res = await u.post(
      "/password/change",
      { currentPassword: newPassword(), newPassword: newPassword() },
      { token: s.accessToken },
    );
    expect(res.status).toBe(401);
    expect(res.body).toEqual({
      error: "invalid_credentials",
      message: "Your current password is wrong.",
    });
    expect((await u.post("/login", { email: s.email, password: s.password })).status).toBe(200);
  });

  it("when the new password is breached or too short, then 400 and the password stays", async () => {
    const u = caller();
    const s = await u.signedUp("chg-weak");
    const breached = await u.post(
      "/password/change",
      { currentPassword: s.password, newPassword: "password123" },
      { token: s.accessToken },
    );
    expect(breached.status).toBe(400);
    expect(breached.body).toEqual(breachedErr(1000));
    const short = await u.post(
      "/password/change",
      { currentPassword: s.password, newPassword: "short" },
      { token: s.accessToken },
    );
    expect(short.status).toBe(400);
    expect(short.body).toEqual(err("password_too_short"));
    expect((await u.post("/login", { email: s.email, password: s.password })).status).toBe(200);
  });

  it("when the session's step-up is older than 5 minutes, then 401 reauth_required (S4.5)", async () => {
    const u = caller();
    const s = await u.signedUp("chg-stale");
    await sql(
      w,
      "update sessions set step_up_at = now() - interval '6 minutes' where user_id = $1",
      [s.id],
    );
    const res = await u.post(
      "/password/change",
      { currentPassword: s.password, newPassword: newPassword() },
      { token: s.accessToken },
    );
    expect(res.status).toBe(401);
    expect(res.body).toEqual(err("reauth_required"));
  });

  it("when the password is changed, then the other sessions die, earlier access tokens are refused and the new password is the one that works", async () => {
    const u = caller();
    const s = await u.signedUp("chg-ok");
    const other = await u.login(s.email, s.password);
    const next = newPassword();
    c.secrets.strings.add(next);

    const res = await u.post(
      "/password/change",
      { currentPassword: s.password, newPassword: next },
      { token: s.accessToken },
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accessToken: expect.any(String), expiresIn: 900 });

    // The other session: access and refresh both dead.
    expect((await u.sessions(other.accessToken)).body).toEqual(err("invalid_token"));
    expect((await u.refresh(other.refresh)).status).toBe(401);
    // This session's access token from before the change is refused.
    const old = await u.sessions(s.accessToken);
    expect(old.status).toBe(401);
    expect(old.body).toEqual(err("invalid_token"));
    // Old password out, new one in.
    expect((await u.post("/login", { email: s.email, password: s.password })).status).toBe(401);
    expect((await u.post("/login", { email: s.email, password: next })).status).toBe(200);
  });

  it("when the password is changed, then the access token it returns works for the current session", async () => {
    const u = caller();
    const s = await u.signedUp("chg-new-token");
    const res = await u.post(
      "/password/change",
      { currentPassword: s.password, newPassword: newPassword() },
      { token: s.accessToken },
    );
    expect(res.status).toBe(200);
    const list = await u.sessions(res.body.accessToken as string);
    expect(list.body).toEqual({ sessions: [expect.objectContaining({ current: true })] });
    expect(list.status).toBe(200);
  });
});

describe("Closing checks", () => {
  it("when all flows above ran, then no password or token is in the log, PostgreSQL or Redis, and every response had Cache-Control: no-store", async () => {
    await expectNoLeaksAndNoStore(w, c);
  });
});
