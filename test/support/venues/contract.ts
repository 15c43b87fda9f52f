// Contract checks of the fake venues against responses recorded from the real venues (ccxt's
// ts/src/test/static/response/, copied as data into test/fixtures/venues/): every field the
// venue sent must be in the fake's answer, at the same place and of the same kind.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface RecordedFixture {
  /** Where in ccxt's repository the response was recorded (file, commit, method). */
  source: string;
  response: unknown;
}

export function recorded(name: string): RecordedFixture {
  const path = join(import.meta.dirname, "..", "..", "fixtures", "venues", `${name}.json`);
  return JSON.parse(readFileSync(path, "utf8")) as RecordedFixture;
}

const kind = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "object" ? "object" : "value";

/**
 * The paths of `venue`'s fields that `fake` lacks or holds as another kind (object, array or
 * plain value; null in the recording matches anything, as the venue sends null for unset).
 * Array elements are compared position by position as far as both go.
 */
export function missingFields(venue: unknown, fake: unknown, path = "$"): string[] {
  const k = kind(venue);
  if (k === "null" || k === "value") {
    return kind(fake) === "object" || kind(fake) === "array" ? [`${path} (not a value)`] : [];
  }
  if (kind(fake) !== k) return [`${path} (${k} expected, ${kind(fake)} found)`];
  if (k === "array") {
    const a = venue as unknown[];
    const b = fake as unknown[];
    return a.slice(0, b.length).flatMap((item, i) => missingFields(item, b[i], `${path}[${i}]`));
  }
  const a = venue as Record<string, unknown>;
  const b = fake as Record<string, unknown>;
  return Object.keys(a).flatMap((key) =>
    key in b ? missingFields(a[key], b[key], `${path}.${key}`) : [`${path}.${key}`],
  );
}
