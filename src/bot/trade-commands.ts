// Parsing of the trading commands. A malformed command answers with its exact usage line, so
// the user sees at once what to type.
import type { Side } from "../domain/venues/types";

export const USAGE = {
  open: "Usage: /open <symbol> <long|short> <size> [sl=<price>] [tp=<price>] [lev=<1-125>] [key=<id>]",
  modify: "Usage: /modify <trade id> [sl=<price|none>] [tp=<price|none>] [size=<size>]",
  close: "Usage: /close <trade id|all>",
} as const;

export class UsageError extends Error {}

export interface OpenCommand {
  symbol: string;
  side: Side;
  size: number;
  stopLoss?: number;
  takeProfit?: number;
  leverage?: number;
  credentialId?: string;
}

export interface ModifyCommand {
  tradeId: string;
  stopLoss?: number | null;
  takeProfit?: number | null;
  size?: number;
}

const positive = (s: string | undefined, usage: string): number => {
  if (s === undefined || !/^\d+(\.\d+)?$/.test(s)) throw new UsageError(usage);
  const n = Number(s);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(usage);
  return n;
};

function options(parts: string[], allowed: string[], usage: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of parts) {
    const m = /^([a-z]+)=(.+)$/.exec(p.toLowerCase());
    if (!m || !allowed.includes(m[1]!) || out.has(m[1]!)) throw new UsageError(usage);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

export function parseOpen(args: string): OpenCommand {
  const [symbol, side, size, ...rest] = args.trim().split(/\s+/).filter(Boolean);
  if (!symbol || !/^[A-Za-z0-9/:._-]{2,30}$/.test(symbol)) throw new UsageError(USAGE.open);
  if (side !== "long" && side !== "short") throw new UsageError(USAGE.open);
  const opts = options(rest, ["sl", "tp", "lev", "key"], USAGE.open);
  const cmd: OpenCommand = { symbol: symbol.toUpperCase(), side, size: positive(size, USAGE.open) };
  if (opts.has("sl")) cmd.stopLoss = positive(opts.get("sl"), USAGE.open);
  if (opts.has("tp")) cmd.takeProfit = positive(opts.get("tp"), USAGE.open);
  if (opts.has("lev")) {
    const lev = opts.get("lev")!;
    if (!/^\d{1,3}$/.test(lev) || Number(lev) < 1 || Number(lev) > 125)
      throw new UsageError(USAGE.open);
    cmd.leverage = Number(lev);
  }
  if (opts.has("key")) {
    const key = opts.get("key")!.replace(/^#/, "");
    if (!/^\d{1,19}$/.test(key)) throw new UsageError(USAGE.open);
    cmd.credentialId = key;
  }
  return cmd;
}

export function parseModify(args: string): ModifyCommand {
  const [id, ...rest] = args.trim().split(/\s+/).filter(Boolean);
  if (!id || !/^#?\d{1,19}$/.test(id) || rest.length === 0) throw new UsageError(USAGE.modify);
  const opts = options(rest, ["sl", "tp", "size"], USAGE.modify);
  const cmd: ModifyCommand = { tradeId: id.replace(/^#/, "") };
  const priceOrNone = (v: string | undefined) => (v === "none" ? null : positive(v, USAGE.modify));
  if (opts.has("sl")) cmd.stopLoss = priceOrNone(opts.get("sl"));
  if (opts.has("tp")) cmd.takeProfit = priceOrNone(opts.get("tp"));
  if (opts.has("size")) cmd.size = positive(opts.get("size"), USAGE.modify);
  return cmd;
}

export function parseClose(args: string): { tradeId: string } | { all: true } {
  const a = args.trim();
  if (a === "all") return { all: true };
  if (!/^#?\d{1,19}$/.test(a)) throw new UsageError(USAGE.close);
  return { tradeId: a.replace(/^#/, "") };
}
