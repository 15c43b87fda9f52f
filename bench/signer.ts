// What the separate signer costs (issue 19): the added latency of a paper open sent as an intent
// over BullMQ to a signer process, against the same use case called in this process; and how
// many intents a second two signer processes execute for concurrent callers, against one.
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { OrderRequest } from "../src/domain/trading/pre-trade";
import type { Caller, TradeRecord } from "../src/domain/trading/trading";
import type { CallerTrading } from "../src/wiring/caller-trading";
import {
  alternate,
  type Figure,
  figure,
  MIN_ROUNDS,
  num,
  printFigure,
  type Stats,
  stats,
} from "./rounds";
import { startSignerStage } from "./signer-setup";

const ROUNDS = Math.max(MIN_ROUNDS, Number(process.env.BENCH_ROUNDS ?? MIN_ROUNDS));
/** Sequential opens per latency round (each closed afterwards, untimed). */
const OPENS = Number(process.env.BENCH_SIGNER_OPENS ?? 100);
/** Concurrent callers of the throughput rounds, one paper user each. */
const CALLERS = Number(process.env.BENCH_SIGNER_CALLERS ?? 16);
const SECONDS = Number(process.env.BENCH_SIGNER_SECONDS ?? 6);
/** The whole benchmark stops (and cleans up) past this, whatever its counts. */
const MAX_SECONDS = Number(process.env.BENCH_SIGNER_MAX_SECONDS ?? 240);

const ORDER: OrderRequest = { symbol: "BTC", side: "long", size: { kind: "base", value: 0.01 } };

/**
 * POST /trades with `confirm: true` in each mode (src/api/trading-routes.ts): remote, the
 * pre-trade checks and the open as one intent; direct, the same checks and open in this process.
 */
function openerOf(t: CallerTrading) {
  return async (caller: Caller): Promise<TradeRecord> => {
    const key = `bench:${randomUUID()}`;
    if (t.placeOrder) return t.placeOrder(caller, ORDER, key);
    const q = await t.quote(caller.userId, ORDER);
    return t.trading.openTrade(caller, {
      symbol: q.symbol,
      side: ORDER.side,
      size: q.size,
      credentialId: q.credentialId,
      idempotencyKey: key,
    });
  };
}

const callerOf = (userId: string): Caller => ({ userId, source: "api", ip: "127.0.0.1" });

/** Nearest-rank percentile of a sample, in its unit. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

export async function benchSigner(): Promise<Figure[]> {
  const hardStop = Date.now() + MAX_SECONDS * 1000;
  const guard = () => {
    if (Date.now() > hardStop) throw new Error(`signer bench: past ${MAX_SECONDS} s, stopped`);
  };
  const stage = await startSignerStage({ log: (line) => console.log(line) });
  try {
    // Latency: one user per side, sequential opens, each closed (untimed) before the next.
    const [remoteUser, directUser] = (await stage.users(2)).map(callerOf) as [Caller, Caller];
    const sample = async (t: CallerTrading, caller: Caller, n: number) => {
      const open = openerOf(t);
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        guard();
        const t0 = performance.now();
        const trade = await open(caller);
        ms.push(performance.now() - t0);
        await t.trading.closeTrade(caller, trade.id);
      }
      return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
    };
    // Warm both paths (JIT, pools, prepared statements, the signer's own), then alternate.
    await sample(stage.oneSigner, remoteUser, 10);
    await sample(stage.direct, directUser, 10);
    const p99 = { ours: [] as number[], anchor: [] as number[] };
    const p50 = await alternate(
      ROUNDS,
      async () => {
        const r = await sample(stage.oneSigner, remoteUser, OPENS);
        p99.ours.push(r.p99);
        return r.p50;
      },
      async () => {
        const r = await sample(stage.direct, directUser, OPENS);
        p99.anchor.push(r.p99);
        return r.p50;
      },
    );
    const p99s = { ours: stats(p99.ours), anchor: stats(p99.anchor) };

    // Throughput: CALLERS concurrent users, open + close loops, against two signers or one.
    const twoUsers = (await stage.users(CALLERS)).map(callerOf);
    const oneUsers = (await stage.users(CALLERS)).map(callerOf);
    const rate = async (t: CallerTrading, callers: Caller[], seconds: number) => {
      const open = openerOf(t);
      const started = performance.now();
      const stop = Date.now() + seconds * 1000;
      let intents = 0;
      // The first failure stops every caller (no loop is left running into the clean-up).
      let failed: unknown;
      await Promise.all(
        callers.map(async (caller) => {
          try {
            while (Date.now() < stop && failed === undefined) {
              guard();
              const trade = await open(caller);
              await t.trading.closeTrade(caller, trade.id);
              intents += 2;
            }
          } catch (err) {
            failed ??= err;
          }
        }),
      );
      if (failed !== undefined) throw failed;
      return intents / ((performance.now() - started) / 1000);
    };
    await rate(stage.twoSigners, twoUsers, 1);
    await rate(stage.oneSigner, oneUsers, 1);
    const tp = await alternate(
      ROUNDS,
      () => rate(stage.twoSigners, twoUsers, SECONDS),
      () => rate(stage.oneSigner, oneUsers, SECONDS),
    );

    const figures = latencyFigures(p50, p99s);
    figures.push(
      figure({
        id: "signer.throughput",
        what: `Intents a second (open and close, each an intent answered to its caller) with ${CALLERS} concurrent callers and two signer processes; anchor: one signer process, same loop (the ratio is the scaling; 2 cores shared by callers, signers and PostgreSQL)`,
        unit: "intents/s",
        ours: tp.ours,
        anchorLabel: "one signer process",
        anchor: tp.anchor,
      }),
    );
    console.log("");
    for (const f of figures) printFigure(f);
    console.log(
      `  added latency (ours − anchor, medians): p50 ${signed(p50.ours.median - p50.anchor.median)} ms, p99 ${signed(p99s.ours.median - p99s.anchor.median)} ms`,
    );
    return figures;
  } finally {
    await stage.close();
  }
}

const signed = (n: number) => `${n >= 0 ? "+" : "−"}${num(Math.abs(n))}`;

function latencyFigures(
  p50: { ours: Stats; anchor: Stats },
  p99: { ours: Stats; anchor: Stats },
): Figure[] {
  const what = (p: string, s: { ours: Stats; anchor: Stats }) =>
    `Paper open (pre-trade checks + open, as POST /trades) through the signer: an intent on BullMQ executed by a separate signer process, answer awaited; ${p} of ${OPENS} sequential opens per round (the close after each is untimed); added ${signed(s.ours.median - s.anchor.median)} ms`;
  const anchorLabel = "the same use case called in-process (direct mode), same database";
  return [
    figure({
      id: "signer.latency_p50",
      what: what("p50", p50),
      unit: "ms",
      ours: p50.ours,
      anchorLabel,
      anchor: p50.anchor,
    }),
    figure({
      id: "signer.latency_p99",
      what: what("p99", p99),
      unit: "ms",
      ours: p99.ours,
      anchorLabel,
      anchor: p99.anchor,
    }),
  ];
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchSigner().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
