// "Not me" → "me" needs step-up (issue 15): answering "it was me" to a fresh alert needs
// nothing more, but taking back a "not me" (which revoked the keys and told the admins) is
// refused without a fresh step-up and the answer on record stays.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";
import { AuthClient, createSecrets, freshIp, sql, TRUSTED_LOOPBACK } from "./auth-support";

let w: TestWarden;
let c: AuthClient;
beforeAll(async () => {
  w = await startTestWarden({ env: TRUSTED_LOOPBACK });
  c = new AuthClient(w, createSecrets());
});
afterAll(async () => {
  await w?.stop();
});

async function finding(userId: string, verdict: "not_me" | null, minutesAgo: number) {
  const rows = await sql<{ id: string }>(
    w,
    `insert into anomalies (user_id, rule, window_start, window_end, evidence, created_at, alert,
       delivery, verdict, verdict_at)
     values ($1, 'rapid_fire', now() - make_interval(mins => $3), now() - make_interval(mins => $3),
       '{"opens":11,"threshold":10,"windowMinutes":5}', now(), true, 'delivered', $2,
       case when $2::text is null then null else now() end)
     returning id::text as id`,
    [userId, verdict, minutesAgo],
  );
  return rows[0]!.id;
}

const verdictOf = async (id: string) =>
  (
    await sql<{ verdict: string | null }>(w, "select verdict from anomalies where id = $1", [id])
  )[0]!.verdict;

async function post(path: string, token: string) {
  const res = await fetch(`${w.base}/api/alerts${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: "{}",
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe("alert verdicts", () => {
  it('when a "not me" is changed to "me" without a fresh step-up, then 401 reauth_required and it stays "not me"; after a step-up, then 204 and it is "me"', async () => {
    const u = c.as(freshIp());
    const s = await u.signedUp("verdict");
    const id = await finding(s.id, "not_me", 1);
    await sql(
      w,
      "update sessions set step_up_at = now() - interval '10 minutes' where user_id = $1",
      [s.id],
    );
    const refused = await post(`/${id}/me`, s.accessToken);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe("reauth_required");
    expect(await verdictOf(id)).toBe("not_me");

    await u.stepUp(s.accessToken, s.password);
    expect((await post(`/${id}/me`, s.accessToken)).status).toBe(204);
    expect(await verdictOf(id)).toBe("me");
  });

  it('when a fresh alert is answered "me", then 204 without a step-up; another user\'s alert is 404', async () => {
    const u = c.as(freshIp());
    const s = await u.signedUp("verdict-fresh");
    const id = await finding(s.id, null, 2);
    await sql(w, "update sessions set step_up_at = null where user_id = $1", [s.id]);
    expect((await post(`/${id}/me`, s.accessToken)).status).toBe(204);
    expect(await verdictOf(id)).toBe("me");
    const other = await c.as(freshIp()).signedUp("verdict-other");
    expect((await post(`/${id}/me`, other.accessToken)).status).toBe(404);
  });
});
