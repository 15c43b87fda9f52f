// Dependencies point inward (STYLE.md 2): src/domain imports no framework or I/O client.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const FORBIDDEN =
  /^(grammy|@grammyjs\/|express|bullmq|ioredis|ccxt|nodemailer|@sentry\/|pg$|@mikro-orm\/)/;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

describe("architecture", () => {
  it("when any file under src/domain imports a framework or client library, then this fails naming it", () => {
    const offenders: string[] = [];
    for (const file of files(join(ROOT, "src/domain"))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(
        /(?:from\s+|import\s*\(\s*|require\s*\(\s*)["']([^"']+)["']/g,
      )) {
        const spec = m[1] ?? "";
        const escapes =
          spec.startsWith(".") && !resolve(file, "..", spec).startsWith(join(ROOT, "src/domain"));
        if (FORBIDDEN.test(spec) || escapes) offenders.push(`${relative(ROOT, file)} → ${spec}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
