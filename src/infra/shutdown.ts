// Graceful shutdown: steps run in reverse order of registration (reverse order of start);
// a second signal does not start a second shutdown.
import type { Logger } from "./logger";

export interface Shutdown {
  add(name: string, step: () => Promise<void>): void;
  /** Runs every step once; later calls return the same promise. Resolves false if a step failed. */
  run(reason: string): Promise<boolean>;
  readonly started: boolean;
}

export function createShutdown(logger: Logger): Shutdown {
  const steps: Array<{ name: string; step: () => Promise<void> }> = [];
  let running: Promise<boolean> | undefined;
  return {
    add(name, step) {
      steps.push({ name, step });
    },
    get started() {
      return running !== undefined;
    },
    run(reason) {
      if (running) return running;
      running = (async () => {
        logger.info({ reason }, "shutting down");
        let ok = true;
        for (const { name, step } of [...steps].reverse()) {
          try {
            await step();
            logger.debug({ step: name }, "stopped");
          } catch (err) {
            ok = false;
            logger.error({ step: name, err }, "shutdown step failed");
          }
        }
        logger.info("shutdown complete");
        return ok;
      })();
      return running;
    },
  };
}
