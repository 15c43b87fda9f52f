// Hyperliquid's scope policy (S7.3) as a pure function of the adapter's report: only an agent
// approved by the given master passes; the master key, non-agents and others' agents do not.
import { describe, expect, it } from "vitest";
import { evaluateHyperliquidScopes } from "../../../../src/domain/venues/policies/hyperliquid";
import type { ScopeReport } from "../../../../src/domain/venues/types";

const MASTER = "0x436bf9e71bccad69dd93a49439f207650eadd798";
const SIGNER = "0x6d88f6987d33a15116e60dca46d749e6f32250c9";
const OTHER = "0x1111111111111111111111111111111111111111";
const NOW = new Date("2026-01-01T00:00:00Z");

function report(permissions: Record<string, unknown>): ScopeReport {
  return {
    venue: "hyperliquid",
    permissions: {
      signer: SIGNER,
      master: MASTER,
      role: "agent",
      roleMaster: MASTER,
      ...permissions,
    },
    ipBound: false,
    expiresAt: null,
    account: MASTER,
  };
}

function refusedPermissions(permissions: Record<string, unknown>): string[] {
  const decision = evaluateHyperliquidScopes(report(permissions), NOW);
  return decision.ok ? [] : decision.refused.map((r) => r.permission);
}

describe("evaluateHyperliquidScopes", () => {
  it("when the signer is an agent approved by the master, then trade and read are accepted without an IP warning", () => {
    expect(evaluateHyperliquidScopes(report({}), NOW)).toEqual({
      ok: true,
      scopes: ["trade", "read"],
      warnings: [],
    });
  });

  it("when addresses differ only in letter case (checksummed input), then they still match", () => {
    const decision = evaluateHyperliquidScopes(
      report({ master: MASTER.toUpperCase().replace("0X", "0x"), roleMaster: MASTER }),
      NOW,
    );
    expect(decision.ok).toBe(true);
  });

  it("when the signer is the master itself, then only master_private_key is refused, with the fix", () => {
    const decision = evaluateHyperliquidScopes(
      report({ signer: MASTER.toUpperCase().replace("0X", "0x"), role: "user", roleMaster: null }),
      NOW,
    );
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.refused).toEqual([
      {
        permission: "master_private_key",
        fix: "this is the master account's own private key, which can withdraw; create an API wallet at app.hyperliquid.xyz/API and paste its private key",
      },
    ]);
  });

  it.each(["user", "vault", "subAccount", "missing", undefined])(
    "when the signer's role is %s, then not_an_agent is refused",
    (role) => {
      expect(refusedPermissions({ role, roleMaster: null })).toEqual(["not_an_agent"]);
    },
  );

  it("when the agent was approved by another master, then agent_of_another_account is refused naming that account", () => {
    const decision = evaluateHyperliquidScopes(report({ roleMaster: OTHER }), NOW);
    expect(decision.ok).toBe(false);
    if (decision.ok) return;
    expect(decision.refused.map((r) => r.permission)).toEqual(["agent_of_another_account"]);
    expect(decision.refused[0]?.fix).toContain(OTHER);
  });

  it("when the agent's master is unknown, then agent_of_another_account is refused", () => {
    expect(refusedPermissions({ roleMaster: null })).toEqual(["agent_of_another_account"]);
  });

  it("when the agent has a future validUntil, then it is accepted with an expires warning giving the date", () => {
    const validUntil = Date.parse("2026-03-01T00:00:00Z");
    const decision = evaluateHyperliquidScopes(report({ validUntil }), NOW);
    expect(decision).toMatchObject({ ok: true, scopes: ["trade", "read"] });
    expect(decision.warnings).toEqual([
      { code: "expires", message: expect.stringContaining("2026-03-01T00:00:00.000Z") },
    ]);
  });

  it("when the agent's validUntil has passed, then agent_expired is refused and no expiry warning is added", () => {
    const decision = evaluateHyperliquidScopes(
      report({ validUntil: Date.parse("2025-12-31T00:00:00Z") }),
      NOW,
    );
    expect(decision).toMatchObject({ ok: false, refused: [{ permission: "agent_expired" }] });
    expect(decision.warnings).toEqual([]);
  });

  it("when the report is not bound to an IP, then no no_ip_binding warning is given", () => {
    const decision = evaluateHyperliquidScopes({ ...report({}), ipBound: false }, NOW);
    expect(decision.warnings.map((w) => w.code)).not.toContain("no_ip_binding");
  });
});
