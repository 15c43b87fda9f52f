// Per-IP limits key IPv6 by /64 (issue 15): a client rotating through the addresses of its /64
// is limited as one address; a neighbouring /64 is not.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import { AuthClient, createSecrets, err, TRUSTED_LOOPBACK, uniqueEmail } from "./auth-support";

let w: TestWarden;
let c: AuthClient;
beforeAll(async () => {
  w = await startTestWarden({ env: TRUSTED_LOOPBACK });
  c = new AuthClient(w, createSecrets());
});
afterAll(async () => {
  await w?.stop();
});

describe("IPv6 per-IP limits", () => {
  it("when 31 sign-ins come from 31 addresses of one /64, then the 31st gets 429; the next /64 still gets its own answer", async () => {
    for (let i = 1; i <= 30; i++) {
      const res = await c
        .as(`2001:db8:77:1::${i.toString(16)}`)
        .post("/login", { email: uniqueEmail("v6"), password: "not the password" });
      expect(res.status, `attempt ${i}`).toBe(401);
    }
    const limited = await c
      .as("2001:db8:77:1:ffff:ffff:ffff:ff")
      .post("/login", { email: uniqueEmail("v6"), password: "not the password" });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual(err("rate_limited"));
    const neighbour = await c
      .as("2001:db8:77:2::1")
      .post("/login", { email: uniqueEmail("v6"), password: "not the password" });
    expect(neighbour.status).toBe(401);
    expect(neighbour.body).toEqual(err("invalid_credentials"));
  });
});
