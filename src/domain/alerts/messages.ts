// What an alert says: to the user (what happened, and the two answers) and to the admins (the
// evidence for forensics). Plain text built from stored evidence; nothing secret is in it.
import { type EmailMessage, formatWhen } from "../accounts/email";
import type { AnomalyRule } from "../anomaly";

export interface AnomalyRecord {
  id: string;
  userId: string;
  rule: AnomalyRule;
  windowStart: Date;
  windowEnd: Date;
  evidence: Record<string, unknown>;
  createdAt: Date;
  /** Whether this rule alerts (new_symbol is recorded only unless configured). */
  alert: boolean;
  delivery: "pending" | "delivered" | "suppressed" | "silent";
  verdict: "me" | "not_me" | null;
  /** A suppressed finding: the alert it was folded into. */
  suppressedInto: string | null;
  /** A delivered alert: how many findings were folded into the previous alert of its kind. */
  suppressedBefore: number;
}

export const RULE_TITLES: Record<AnomalyRule, string> = {
  rapid_fire: "Rapid-fire trading",
  new_ip: "Trading from a new IP address",
  new_symbol: "Trading a coin you never traded",
};

type Ev = Record<string, unknown>;
const list = (v: unknown): Ev[] => (Array.isArray(v) ? (v as Ev[]) : []);

/** One or two lines saying what the rule saw. */
export function describeFinding(a: AnomalyRecord): string {
  const e = a.evidence;
  switch (a.rule) {
    case "rapid_fire": {
      const { attempts, filled, failed } = openAttempts(e);
      return `${attempts} open attempts (${filled} filled, ${failed} failed) within ${String(e.windowMinutes)} minutes (${formatWhen(a.windowStart)} – ${formatWhen(a.windowEnd)}); the limit is ${String(e.threshold)}.`;
    }
    case "new_ip": {
      const ips = list(e.ips).map(
        (x) =>
          `${String(x.ip)} (${String(x.action)} ${String(x.symbol)} at ${String(x.at).slice(0, 16).replace("T", " ")} UTC)`,
      );
      return `A trade action came from an IP address not seen on your account in the last ${String(e.lookbackDays)} days: ${ips.join(", ")}.`;
    }
    case "new_symbol": {
      const coins = list(e.coins).map((x) => String(x.coin));
      return `You traded ${coins.join(", ")} for the first time.`;
    }
  }
}

/**
 * A burst's open attempts: filled and failed (refused included) add up to the attempts.
 * Findings recorded before the counts were split carry `opens` and the failed ones of the scan.
 */
export function openAttempts(e: Ev): { attempts: number; filled: number; failed: number } {
  const attempts = Number(e.attempts ?? e.opens ?? 0);
  const failed = Number(e.failed ?? 0);
  return { attempts, filled: Number(e.filled ?? attempts - failed), failed };
}

/** The line an alert carries when findings were folded into the previous one (dedup). */
export function suppressedLine(a: AnomalyRecord): string[] {
  const n = a.suppressedBefore;
  if (n <= 0) return [];
  return [
    "",
    `Since the previous alert of this kind, ${n} more ${n === 1 ? "finding was" : "findings were"} recorded and suppressed (not sent on their own).`,
  ];
}

export const BUTTON_ME = "This was me";
export const BUTTON_NOT_ME = "Not me — revoke my keys";

export function userAlertText(a: AnomalyRecord): string {
  return [
    `⚠️ Unusual activity on your Warden account: ${RULE_TITLES[a.rule]}`,
    "",
    describeFinding(a),
    ...suppressedLine(a),
    "",
    "If this was you, press “This was me”. If not, press “Not me — revoke my keys”: Warden revokes every exchange key on your account at once (after your 2FA code, if 2FA is on) and tells our team.",
    `Reference: alert #${a.id}`,
  ].join("\n");
}

export function userAlertEmail(to: string, a: AnomalyRecord, publicUrl: string): EmailMessage {
  const text = [
    `Warden noticed unusual activity on your account: ${RULE_TITLES[a.rule]}.`,
    "",
    describeFinding(a),
    ...suppressedLine(a),
    "",
    "If this was you, there is nothing to do.",
    "If it was not you, open the Warden bot in Telegram and press “Not me — revoke my keys” on the alert, or revoke your keys in the web app, and change your password.",
    "",
    `Reference: alert #${a.id}`,
    publicUrl,
  ].join("\n");
  return { to, subject: `Warden security alert: ${RULE_TITLES[a.rule]}`, text };
}

export interface AdminView {
  userTelegramId: number | null;
  /** The user's channels that this alert reached (attempted), empty when none works. */
  userChannels: string[];
}

export function adminAlertText(a: AnomalyRecord, v: AdminView): string {
  return [
    `🛡 Anomaly #${a.id}: ${a.rule} for user #${a.userId}${v.userTelegramId ? ` (Telegram ${v.userTelegramId})` : ""}`,
    `Window: ${formatWhen(a.windowStart)} – ${formatWhen(a.windowEnd)}; detected ${formatWhen(a.createdAt)}`,
    describeFinding(a),
    ...suppressedLine(a).slice(1),
    v.userChannels.length > 0
      ? `User alerted by: ${v.userChannels.join(", ")}`
      : "The user has no working alert channel: only admins were told.",
    `Evidence: ${JSON.stringify(a.evidence)}`,
  ].join("\n");
}

export function adminAlertEmail(to: string, a: AnomalyRecord, v: AdminView): EmailMessage {
  return {
    to,
    subject: `Warden anomaly #${a.id}: ${a.rule} (user #${a.userId})`,
    text: adminAlertText(a, v),
  };
}

export function notMeAdminText(a: AnomalyRecord, revoked: string[]): string {
  return [
    `🚨 User #${a.userId} says alert #${a.id} (${a.rule}) was NOT them.`,
    revoked.length > 0
      ? `Revoked ${revoked.length} exchange key(s): ${revoked.map((id) => `#${id}`).join(", ")}.`
      : "They had no active exchange key to revoke.",
    describeFinding(a),
  ].join("\n");
}
