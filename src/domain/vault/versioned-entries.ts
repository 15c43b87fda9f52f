// The grammar of MASTER_KEYS and SIGNER_INTAKE_KEY: `VERSION:KEY` entries separated by commas
// and/or newlines; blank lines and `#` comment lines are ignored. Errors name the entry's
// position and version, never the key.
const VERSION_PATTERN = /^[1-9][0-9]*$/;

export interface VersionedEntry {
  version: number;
  /** The key as written (trimmed); the caller decodes and checks it. */
  keyText: string;
  /** "VARIABLE: entry N (version V)", for the caller's own error messages. */
  named: string;
}

/** Each entry in order; `fail` is called (and must throw) for a malformed or repeated one. */
export function* versionedEntries(
  text: string,
  variable: string,
  fail: (message: string) => never,
): Generator<VersionedEntry> {
  const seen = new Set<number>();
  let position = 0;
  for (const line of String(text).split(/\r?\n|\r/)) {
    const trimmedLine = line.trim();
    if (trimmedLine === "" || trimmedLine.startsWith("#")) continue;
    for (const piece of trimmedLine.split(",")) {
      const entry = piece.trim();
      if (entry === "") continue;
      position += 1;
      const where = `${variable}: entry ${position}`;
      const colon = entry.indexOf(":");
      if (colon < 0) fail(`${where} is malformed (expected VERSION:KEY)`);
      const versionText = entry.slice(0, colon).trim();
      const keyText = entry.slice(colon + 1).trim();
      if (!VERSION_PATTERN.test(versionText) || !Number.isSafeInteger(Number(versionText))) {
        fail(`${where} is malformed (VERSION must be a positive integer, as in 1:KEY)`);
      }
      const version = Number(versionText);
      const named = `${where} (version ${version})`;
      if (keyText === "") fail(`${named} has no key after the colon`);
      if (seen.has(version)) fail(`${named} is a duplicate version`);
      seen.add(version);
      yield { version, keyText, named };
    }
  }
}
