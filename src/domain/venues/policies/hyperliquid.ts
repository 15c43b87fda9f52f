// Hyperliquid's scope policy (S7.3): only an approved agent (API) wallet of the given master
// address is accepted; the master's own key, non-agents and other accounts' agents are refused.
import type { Refusal, ScopeDecision, Warning } from "../scope-policy";
import type { ScopeReport } from "../types";

/** What the Hyperliquid adapter puts in ScopeReport.permissions. */
export interface HyperliquidPermissions {
  /** The address derived from the pasted private key. */
  signer: string;
  /** The master account address the user gave. */
  master: string;
  /** userRole's answer for the signer: agent, user, vault, subAccount or missing. */
  role: string;
  /** For an agent, the account that approved it (userRole data.user). */
  roleMaster: string | null;
  /** extraAgents' validUntil for this agent, epoch ms, when it has one. */
  validUntil?: number;
}

const CREATE_AGENT = "create an API wallet at app.hyperliquid.xyz/API and paste its private key";

function str(value: unknown): string {
  return typeof value === "string" ? value.trim().toLowerCase() : "";
}

/**
 * Accepts only role === "agent" approved by the given master. No IP-binding warning: Hyperliquid
 * agents cannot be bound to IPs, so there is nothing the user could fix. An agent whose
 * validUntil has passed is refused, one that will expire is accepted with a warning.
 */
export function evaluateHyperliquidScopes(report: ScopeReport, now = new Date()): ScopeDecision {
  const p = report.permissions;
  const signer = str(p.signer);
  const master = str(p.master);
  const role = str(p.role) || "missing";
  const roleMaster = str(p.roleMaster);
  const validUntil = typeof p.validUntil === "number" ? p.validUntil : undefined;
  const warnings: Warning[] = [];
  const refused: Refusal[] = [];

  if (signer !== "" && signer === master) {
    refused.push({
      permission: "master_private_key",
      fix: `this is the master account's own private key, which can withdraw; ${CREATE_AGENT}`,
    });
  } else if (role !== "agent") {
    refused.push({
      permission: "not_an_agent",
      fix: `Hyperliquid knows this key's address as "${role}", not as an API wallet; ${CREATE_AGENT}`,
    });
  } else if (master === "" || roleMaster !== master) {
    refused.push({
      permission: "agent_of_another_account",
      fix:
        `this API wallet was approved by ${roleMaster || "another account"}, not by ${master || "the given master address"}; ` +
        "enter that account's address as the master, or create an API wallet for this one at app.hyperliquid.xyz/API",
    });
  } else if (validUntil !== undefined && validUntil <= now.getTime()) {
    refused.push({
      permission: "agent_expired",
      fix: `this API wallet expired on ${new Date(validUntil).toISOString()}; ${CREATE_AGENT}`,
    });
  }

  if (validUntil !== undefined && refused.length === 0) {
    warnings.push({
      code: "expires",
      message: `this API wallet stops working on ${new Date(validUntil).toISOString()}; create a new one before then`,
    });
  }

  return refused.length > 0
    ? { ok: false, refused, warnings }
    : { ok: true, scopes: ["trade", "read"], warnings };
}
