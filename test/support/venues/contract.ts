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

export interface RecordedRequests {
  source: string;
  /** Recorded fields Warden leaves out by design, by path, with the reason. */
  notSentOnPurpose: Record<string, string>;
  requests: Record<string, { method: string; path: string; body: unknown }>;
}

export function recordedRequests(name: string): RecordedRequests {
  const path = join(import.meta.dirname, "..", "..", "fixtures", "venues", `${name}.json`);
  return JSON.parse(readFileSync(path, "utf8")) as RecordedRequests;
}

const shape = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "object" ? "object" : typeof v;

/**
 * Where a request Warden sent departs from the recorded form of the same call: a parameter the
 * recording does not have (a misspelt or invented name), one it has that Warden left out, or a
 * value of another type (a number where the venue got a string). Paths in `omitted` may be
 * left out. Array elements are compared position by position, the last recorded element
 * standing for the rest.
 */
export function requestDepartures(
  form: unknown,
  sent: unknown,
  omitted: readonly string[] = [],
  path = "",
): string[] {
  const at = (key: string) => (path === "" ? key : `${path}.${key}`);
  if (shape(form) !== shape(sent)) {
    return [`${path || "$"}: ${shape(form)} recorded, ${shape(sent)} sent`];
  }
  if (Array.isArray(form)) {
    const items = sent as unknown[];
    if (form.length === 0) return [];
    return items.flatMap((item, i) =>
      requestDepartures(form[Math.min(i, form.length - 1)], item, omitted, `${path}[${i}]`),
    );
  }
  if (shape(form) !== "object") return [];
  const a = form as Record<string, unknown>;
  const b = sent as Record<string, unknown>;
  const unknown = Object.keys(b)
    .filter((k) => !(k in a))
    .map((k) => `${at(k)}: sent, not in the recorded form`);
  const missing = Object.keys(a)
    .filter((k) => !(k in b) && !omitted.includes(at(k).replace(/\[\d+\]/g, "")))
    .map((k) => `${at(k)}: recorded, not sent`);
  const nested = Object.keys(a)
    .filter((k) => k in b)
    .flatMap((k) => requestDepartures(a[k], b[k], omitted, at(k)));
  return [...unknown, ...missing, ...nested];
}
