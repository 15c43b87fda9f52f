// `paper price <SYMBOL> <price|clear>`: sets the paper venue's price of a symbol (development
// and tests), then asks the signer to check the paper stops at once. Refused in production.
import { paperSymbol } from "../domain/venues/paper";
import { VenueError } from "../domain/venues/types";
import type { Config } from "../infra/config";
import { createOrm, sqlOf } from "../infra/database";
import { createRedisFactory } from "../infra/redis";
import { setPaperPriceOverride } from "../infra/venues/paper-store";
import { createQueueRegistry } from "../jobs/registry";

export const PAPER_PRICE_USAGE = "paper price <SYMBOL> <price|clear>";

export async function paperPriceCommand(
  c: Config,
  args: string[],
  io: { out: (l: string) => void; err: (l: string) => void },
): Promise<number> {
  if (c.nodeEnv === "production") {
    io.err("paper price is refused in production: paper prices there come from the venues.");
    return 2;
  }
  const [raw, value, extra] = args;
  if (!raw || !value || extra !== undefined) {
    io.err(`Usage: ${PAPER_PRICE_USAGE}\nExample: npm run cli -- paper price BTC 58000`);
    return 2;
  }
  let symbol: string;
  try {
    symbol = paperSymbol(raw);
  } catch (err) {
    if (!(err instanceof VenueError)) throw err;
    io.err(err.message);
    return 2;
  }
  const price = value === "clear" ? null : Number(value.replaceAll(",", ""));
  if (price !== null && (!/^[\d,]+(\.\d+)?$/.test(value) || !(price > 0))) {
    io.err(`The price must be a positive number or "clear", got "${value.slice(0, 20)}".`);
    return 2;
  }
  const orm = await createOrm({ url: c.databaseUrl, sslCa: c.databaseSslCa, poolMax: 1 });
  try {
    await setPaperPriceOverride(sqlOf(orm), symbol, price);
  } finally {
    await orm.close();
  }
  // "On every price change": a run now, not at the next 5-second tick.
  const redis = createRedisFactory({ url: c.redisUrl, keyPrefix: c.redisPrefix });
  const queues = createQueueRegistry(redis.create("producer", "cli"), redis.bullPrefix);
  try {
    await queues.get("trading").add("paper-triggers", {});
  } finally {
    await queues.close();
    await redis.closeAll();
  }
  io.out(price === null ? `${symbol}: back to the paper feed` : `${symbol}: paper price ${price}`);
  return 0;
}
