// A pino destination that keeps every line, so tests can search what was logged.
import { Writable } from "node:stream";

export interface LogCapture {
  stream: Writable;
  lines: string[];
  text(): string;
}

export function captureLogs(): LogCapture {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      cb();
    },
  });
  return { stream, lines, text: () => lines.join("\n") };
}
