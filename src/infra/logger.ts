// pino logger whose every object, message and error passes through the shared scrubber:
// JSON lines in production, readable lines in development.
import { type DestinationStream, type Logger, pino } from "pino";
import pretty from "pino-pretty";
import type { Scrubber } from "./scrub";

export type { Logger };

export interface LoggerOptions {
  level: string;
  pretty: boolean;
  scrubber: Scrubber;
  /** Where lines go; stdout by default. Tests pass a capturing stream. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const { scrubber } = opts;
  const destination =
    opts.destination ??
    (opts.pretty
      ? pretty({ colorize: process.stdout.isTTY, sync: true, translateTime: "SYS:HH:MM:ss.l" })
      : pino.destination({ sync: true }));
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        log: (obj) => scrubber.scrub(obj) as Record<string, unknown>,
        bindings: (bindings) => scrubber.scrub(bindings) as Record<string, unknown>,
      },
      serializers: {
        err: (err: Error) => scrubber.scrub(pino.stdSerializers.err(err)),
      },
      hooks: {
        logMethod(args, method) {
          const cleaned = args.map((a) => (typeof a === "string" ? scrubber.scrubString(a) : a));
          // pino's overloads cannot be expressed over a rest array; the arguments are unchanged
          // apart from scrubbed strings.
          return method.apply(this, cleaned as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}
