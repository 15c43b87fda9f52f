// Job schedulers a role registers at boot, and registered again when Redis comes back empty.
import type { Logger } from "../infra/logger";
import type { Shared } from "./shared";

/**
 * A Redis that comes back empty (a restart without persistence, a failover to a blank replica)
 * has lost the job schedulers registered at boot: no anomaly scan, rotation or reconciliation
 * would run again until the process restarts. Each time a watch connection is ready again, the
 * role's schedules are registered anew if `present` says its probe scheduler is gone
 * (registering is idempotent). Returns the step that stops watching.
 */
export function rescheduleAfterEmptyRedis(
  redis: Shared["redis"],
  opts: {
    /** Whether the role's schedulers are still there (one stands for all). */
    present: () => Promise<boolean>;
    schedule: () => Promise<void>;
    /** The connection's name, e.g. "schedules-watch". */
    name: string;
    logger: Logger;
  },
): () => Promise<void> {
  const { logger } = opts;
  const watch = redis.create("worker", opts.name);
  let first = true;
  watch.on("ready", () => {
    if (first) {
      first = false;
      return;
    }
    void (async () => {
      // The queues' own connection may reconnect a moment after this one: a few tries.
      for (let attempt = 1; ; attempt++) {
        try {
          if (await opts.present()) return;
          await opts.schedule();
          logger.warn("Redis came back without the job schedulers: registered them again");
          return;
        } catch (err) {
          if (attempt >= 10) throw err;
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    })().catch((err: unknown) =>
      logger.error({ err }, "could not register the job schedulers again after a Redis restart"),
    );
  });
  // The factory closes the connection itself.
  return async () => {
    watch.removeAllListeners("ready");
  };
}
