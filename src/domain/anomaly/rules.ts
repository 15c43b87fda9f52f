// The anomaly rules (S8.3) as pure functions over facts: the trade actions of one scan window
// and what the scan knows from before it. Each rule yields at most one finding per user per
// window, carrying the evidence an admin needs; none of them reads a clock.

export const ANOMALY_RULES = ["rapid_fire", "new_ip", "new_symbol"] as const;
export type AnomalyRule = (typeof ANOMALY_RULES)[number];

/** One trade action (an audit entry) as the scan sees it. */
export interface TradeActivity {
  id: string;
  userId: string;
  /** Epoch milliseconds. */
  at: number;
  action: "open" | "modify" | "close";
  outcome: "ok" | "failed" | "refused";
  source: "telegram" | "api" | "system";
  ip: string | null;
  symbol: string;
  /** The base coin ("BTC" for BTC/USDT:USDT), so spellings of one market count once. */
  coin: string;
  tradeId: string | null;
  /** History, settled when the action was recorded: this IP's previous sighting on the account. */
  ipLastSeen: number | null;
  /** … and whether this open was the account's first of the coin. */
  coinNew: boolean;
}

export interface RuleThresholds {
  /** rapid_fire: more than this many opens … */
  rapidFireOpens: number;
  /** … within this many milliseconds (a window [t - ms, t] ending at an open). */
  rapidFireWindowMs: number;
  /** new_ip: an IP not seen on the account within this many milliseconds before. */
  newIpLookbackMs: number;
}

export const DEFAULT_THRESHOLDS: RuleThresholds = {
  rapidFireOpens: 10,
  rapidFireWindowMs: 5 * 60_000,
  newIpLookbackMs: 30 * 24 * 3600_000,
};

/** An open from before the window, as far as rapid_fire needs it. */
export interface PriorOpen {
  at: number;
  outcome: TradeActivity["outcome"];
}

/** What the scan reads from before the window: only the minutes a burst can reach back. */
export interface ScanContext {
  /**
   * Each user's opens in the rapid-fire span before the window that no recorded burst holds
   * (those after the user's last rapid_fire finding).
   */
  priorOpens: ReadonlyMap<string, readonly PriorOpen[]>;
  /** The end of each user's last recorded rapid_fire window: opens up to it are spent. */
  lastBurstEnd?: ReadonlyMap<string, number>;
}

export interface Finding {
  userId: string;
  rule: AnomalyRule;
  windowStart: number;
  windowEnd: number;
  evidence: Record<string, unknown>;
}

const iso = (ms: number) => new Date(ms).toISOString();
/** Evidence lists are capped: an admin needs examples and counts, not ten thousand rows. */
const MAX_LISTED = 20;

function byUser(actions: readonly TradeActivity[]): Map<string, TradeActivity[]> {
  const out = new Map<string, TradeActivity[]>();
  for (const a of actions) {
    const list = out.get(a.userId);
    if (list) list.push(a);
    else out.set(a.userId, [a]);
  }
  for (const list of out.values()) list.sort((x, y) => x.at - y.at || cmpId(x.id, y.id));
  return out;
}

const cmpId = (a: string, b: string) =>
  a.length - b.length !== 0 ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;

/**
 * rapid_fire: more than `rapidFireOpens` open attempts (any outcome: attempts are the signal) by
 * one user within `rapidFireWindowMs`. A burst's window starts at the first open no recorded
 * burst holds yet (normally the first open this scan sees; an unreported beginning of the burst
 * in the minutes before counts too) and takes every open up to `rapidFireWindowMs` after it; the
 * opens after it can start the next burst. So every burst is a finding of its own, with a
 * window start no earlier finding has, and an open is never counted in two findings.
 */
export function rapidFire(
  actions: readonly TradeActivity[],
  ctx: Pick<ScanContext, "priorOpens" | "lastBurstEnd">,
  t: RuleThresholds,
): Finding[] {
  const findings: Finding[] = [];
  for (const [userId, list] of byUser(actions.filter((a) => a.action === "open"))) {
    const spent = ctx.lastBurstEnd?.get(userId) ?? Number.NEGATIVE_INFINITY;
    // Old and new opens in one time order: clocks of different processes may disagree a
    // little, so an earlier row can carry a later time than a new one.
    const times = [
      ...(ctx.priorOpens.get(userId) ?? []).map((p) => ({ ...p, fresh: null })),
      ...list.map((a) => ({ at: a.at, outcome: a.outcome, fresh: a })),
    ]
      .filter((x) => x.at > spent)
      .sort((x, y) => x.at - y.at || Number(x.fresh !== null) - Number(y.fresh !== null));
    // freshBefore[k]: how many of the first k opens are new (a burst must hold one of them).
    const freshBefore = [0];
    for (const x of times) freshBefore.push(freshBefore.at(-1)! + (x.fresh ? 1 : 0));
    let i = 0;
    let j = 0;
    while (i < times.length) {
      // The longest run of opens within the window that starts at open i.
      if (j < i) j = i;
      while (j + 1 < times.length && times[j + 1]!.at - times[i]!.at <= t.rapidFireWindowMs) j++;
      const count = j - i + 1;
      if (count > t.rapidFireOpens && freshBefore[j + 1]! - freshBefore[i]! > 0) {
        findings.push(burstFinding(userId, times.slice(i, j + 1), t));
        i = j + 1;
      } else {
        i++;
      }
    }
  }
  return findings;
}

function burstFinding(
  userId: string,
  burst: readonly { at: number; outcome: TradeActivity["outcome"]; fresh: TradeActivity | null }[],
  t: RuleThresholds,
): Finding {
  const windowStart = burst[0]!.at;
  const windowEnd = burst.at(-1)!.at;
  const fresh = burst.flatMap((x) => (x.fresh ? [x.fresh] : []));
  const filled = burst.filter((x) => x.outcome === "ok").length;
  return {
    userId,
    rule: "rapid_fire",
    windowStart,
    windowEnd,
    evidence: {
      attempts: burst.length,
      filled,
      failed: burst.length - filled,
      threshold: t.rapidFireOpens,
      windowMinutes: t.rapidFireWindowMs / 60_000,
      firstAt: iso(windowStart),
      lastAt: iso(windowEnd),
      sources: [...new Set(fresh.map((a) => a.source))].sort(),
      ips: [...new Set(fresh.flatMap((a) => (a.ip ? [a.ip] : [])))].slice(0, MAX_LISTED),
      symbols: [...new Set(fresh.map((a) => a.symbol))].slice(0, MAX_LISTED),
      tradeIds: fresh.flatMap((a) => (a.tradeId ? [a.tradeId] : [])).slice(0, MAX_LISTED),
    },
  };
}

/**
 * new_ip: a trade action from an IP with no sighting on the account in the `newIpLookbackMs`
 * before it. Every action is a sighting (its `ipLastSeen` is the one before it), so the second
 * use of a new IP is not new.
 */
export function newIp(actions: readonly TradeActivity[], t: RuleThresholds): Finding[] {
  const findings: Finding[] = [];
  const isNew = (a: TradeActivity) =>
    a.ip !== null && (a.ipLastSeen === null || a.at - a.ipLastSeen > t.newIpLookbackMs);
  for (const [userId, fresh] of byUser(actions.filter(isNew))) {
    findings.push({
      userId,
      rule: "new_ip",
      windowStart: fresh[0]!.at,
      windowEnd: fresh.at(-1)!.at,
      evidence: {
        lookbackDays: t.newIpLookbackMs / 86_400_000,
        count: fresh.length,
        ips: fresh.slice(0, MAX_LISTED).map((a) => ({
          ip: a.ip,
          at: iso(a.at),
          action: a.action,
          outcome: a.outcome,
          source: a.source,
          symbol: a.symbol,
          tradeId: a.tradeId,
          lastSeenBefore: a.ipLastSeen === null ? null : iso(a.ipLastSeen),
        })),
      },
    });
  }
  return findings;
}

/** new_symbol: an open in a coin the user never opened before. */
export function newSymbol(actions: readonly TradeActivity[]): Finding[] {
  const findings: Finding[] = [];
  for (const [userId, fresh] of byUser(actions.filter((a) => a.action === "open" && a.coinNew))) {
    findings.push({
      userId,
      rule: "new_symbol",
      windowStart: fresh[0]!.at,
      windowEnd: fresh.at(-1)!.at,
      evidence: {
        count: fresh.length,
        coins: fresh.slice(0, MAX_LISTED).map((a) => ({
          coin: a.coin,
          symbol: a.symbol,
          at: iso(a.at),
          outcome: a.outcome,
          source: a.source,
          ip: a.ip,
          tradeId: a.tradeId,
        })),
      },
    });
  }
  return findings;
}

/** Every rule over one window. */
export function evaluateRules(
  actions: readonly TradeActivity[],
  ctx: ScanContext,
  t: RuleThresholds,
): Finding[] {
  return [...rapidFire(actions, ctx, t), ...newIp(actions, t), ...newSymbol(actions)];
}
