// The scope policy as data (VENUES.md, S7.1): per venue, what a key must allow and what it must
// not. evaluateScopes turns a venue's own report into "accept with warnings" or "refuse, naming
// each offending permission and where on the venue to turn it off".
import { evaluateBinanceScopes } from "./policies/binanceusdm";
import { evaluateBybitScopes } from "./policies/bybit";
import { evaluateHyperliquidScopes } from "./policies/hyperliquid";
import type { ScopeReport } from "./types";

export interface Refusal {
  permission: string;
  /** Where and how to fix it on the venue, in one sentence. */
  fix: string;
}

export interface Warning {
  code: "no_ip_binding" | "expires";
  message: string;
}

export type ScopeDecision =
  | { ok: true; scopes: string[]; warnings: Warning[] }
  | { ok: false; refused: Refusal[]; warnings: Warning[] };

/** The policy of the report's venue; the paper venue can do nothing but simulate. */
export function evaluateScopes(report: ScopeReport, opts: { egressIps: string[] }): ScopeDecision {
  switch (report.venue) {
    case "binanceusdm":
      return evaluateBinanceScopes(report, opts);
    case "bybit":
      return evaluateBybitScopes(report, opts);
    case "hyperliquid":
      return evaluateHyperliquidScopes(report);
    case "paper":
      return { ok: true, scopes: ["trade", "read"], warnings: [] };
  }
}
