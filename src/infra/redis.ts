// One ioredis factory. Each use gets the settings BullMQ and our own code need: workers
// block forever (maxRetriesPerRequest null), producers and request-path clients fail fast.
import { Redis, type RedisOptions } from "ioredis";

export type RedisUse = "client" | "producer" | "worker";

export interface RedisFactoryOptions {
  url: string;
  /** Prefix for every key our own code writes (ioredis keyPrefix); BullMQ gets its own. */
  keyPrefix: string;
}

export interface RedisFactory {
  create(use: RedisUse, name: string): Redis;
  readonly keyPrefix: string;
  /** BullMQ's `prefix` option: keeps queues of parallel test runs and deployments apart. */
  readonly bullPrefix: string;
  closeAll(): Promise<void>;
}

export function createRedisFactory(opts: RedisFactoryOptions): RedisFactory {
  const clients: Redis[] = [];
  return {
    keyPrefix: opts.keyPrefix,
    bullPrefix: `${opts.keyPrefix}bull`,
    create(use, name) {
      const base: RedisOptions = {
        connectionName: `warden:${name}`,
        lazyConnect: false,
        connectTimeout: 5_000,
      };
      const byUse: Record<RedisUse, RedisOptions> = {
        // Our own commands (rate limits, one-time tokens): prefixed, a couple of retries.
        client: { keyPrefix: opts.keyPrefix, maxRetriesPerRequest: 2 },
        // Queue.add from a request: fail at once rather than hang the request.
        producer: { maxRetriesPerRequest: 1, enableOfflineQueue: false },
        // BullMQ workers use blocking commands and must retry forever.
        worker: { maxRetriesPerRequest: null },
      };
      const client = new Redis(opts.url, { ...base, ...byUse[use] });
      // Connection errors are reported by /readyz and by the commands that fail; an unhandled
      // 'error' event would otherwise crash the process.
      client.on("error", () => {});
      clients.push(client);
      return client;
    },
    async closeAll() {
      await Promise.all(
        clients.splice(0).map(async (c) => {
          try {
            await c.quit();
          } catch {
            c.disconnect();
          }
        }),
      );
    },
  };
}
