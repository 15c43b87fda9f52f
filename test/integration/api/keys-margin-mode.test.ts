// PATCH /api/keys/:id (issue 16): a Hyperliquid key's margin mode, cross or isolated, set from
// the web with a fresh step-up; the key's view shows it; other venues' keys and bad bodies are
// refused with the reason.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evmAddressOf } from "../../../src/infra/venues/hyperliquid";
import { confirmationToken } from "../../support/email-confirmation";
import { type FakeHyperliquid, startFakeHyperliquid } from "../../support/venues/hyperliquid";
import { startTestWarden, type TestWarden } from "../../support/warden-harness";

const masterPk = randomBytes(32);
const agentPk = randomBytes(32);
const master = evmAddressOf(masterPk);
const agent = evmAddressOf(agentPk);

let hl: FakeHyperliquid;
let w: TestWarden;
let token: string;

async function api(method: string, path: string, body?: unknown, auth = token) {
  const res = await fetch(`${w.base}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${auth}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  hl = await startFakeHyperliquid({ roles: { [agent]: { role: "agent", master } } });
  w = await startTestWarden({ env: { VENUE_URL_HYPERLIQUID: hl.url } });
  const reg = { email: "margin@example.com", password: "a long unique passphrase" };
  await api("POST", "/api/auth/register", reg, "");
  await api("POST", "/api/auth/email/confirm", {
    token: await confirmationToken(w.smtp, reg.email),
  });
  token = ((await api("POST", "/api/auth/login", reg, "")).body as { accessToken: string })
    .accessToken;
  expect((await api("POST", "/api/auth/step-up", { password: reg.password })).status).toBe(200);
});
afterAll(async () => {
  await w.stop();
  await hl.close();
});

describe("PATCH /api/keys/:id", () => {
  it("when a Hyperliquid key is set to isolated, then 200 with marginMode isolated, and GET /api/keys shows it", async () => {
    const added = await api("POST", "/api/keys", {
      venue: "hyperliquid",
      walletAddress: master,
      privateKey: agentPk.toString("hex"),
    });
    expect(added.status).toBe(201);
    const key = added.body.key as { id: string; marginMode: string };
    expect(key.marginMode).toBe("cross");
    const res = await api("PATCH", `/api/keys/${key.id}`, { marginMode: "isolated" });
    expect(res.status).toBe(200);
    expect(res.body.key).toMatchObject({ id: key.id, marginMode: "isolated" });
    const list = (await api("GET", "/api/keys")).body.keys as Array<Record<string, unknown>>;
    expect(list.find((k) => k.id === key.id)?.marginMode).toBe("isolated");
  });

  it("when the body is not cross or isolated, or has other fields, then 422 names the field and nothing changes", async () => {
    const list = (await api("GET", "/api/keys")).body.keys as Array<{ id: string }>;
    const id = list[0]!.id;
    const bad = await api("PATCH", `/api/keys/${id}`, { marginMode: "portfolio" });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toBe("Missing or invalid field: marginMode.");
    const extra = await api("PATCH", `/api/keys/${id}`, { marginMode: "cross", label: "x" });
    expect(extra.status).toBe(422);
    const after = (await api("GET", "/api/keys")).body.keys as Array<Record<string, unknown>>;
    expect(after[0]?.marginMode).toBe("isolated");
  });

  it("when the key is a paper key or unknown, then 422 with where to set it, or 404", async () => {
    const paper = await api("POST", "/api/keys", { venue: "paper" });
    const id = (paper.body.key as { id: string }).id;
    const res = await api("PATCH", `/api/keys/${id}`, { marginMode: "isolated" });
    expect(res.status).toBe(422);
    expect(res.body.message).toContain("Hyperliquid keys only");
    expect((await api("PATCH", "/api/keys/999999", { marginMode: "cross" })).status).toBe(404);
  });
});
