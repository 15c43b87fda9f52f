// CLI area: key rings — MASTER_KEYS (exchange keys) and ACCOUNT_KEYS (account secrets):
// generate, status, rotate (S1.2); each ring's commands are built by ringCommands.
import { parseArgs } from "node:util";
import {
  ENCRYPTED_TABLES,
  entryName,
  generateFernetKey,
  type KeyRing,
  RING_VARIABLE,
  type RingName,
  rotateAll,
  tablesUnder,
  type VaultStore,
} from "../domain/vault";
import type { Config } from "../infra/config";
import { requireMasterKeys } from "../infra/config";
import { preparedSqlOf } from "../infra/database";
import { createRedisFactory } from "../infra/redis";
import { createVaultStore } from "../infra/vault-store";
import { requestRotation } from "../jobs/processors/vault";
import { createQueueRegistry } from "../jobs/registry";
import { config, withOrm } from "./context";
import type { CliIo, Command } from "./registry";

const PREFIX = { master: "master-key", account: "account-key" } as const;
const ringOf = (c: Config, ring: RingName): KeyRing =>
  ring === "master" ? requireMasterKeys(c) : c.accountKeys;

/** Prints the rows per version of every entry under the ring; false when a version is missing. */
export async function printRingStatus(store: VaultStore, ring: KeyRing, io: CliIo) {
  const variable = RING_VARIABLE[ring.ring];
  io.out(`${variable} versions: ${ring.versions.join(", ")} (current ${ring.currentVersion})`);
  let complete = true;
  for (const table of tablesUnder(ring.ring)) {
    const counts = await store.versionCounts(table);
    if (counts.length === 0) io.out(`${entryName(table)}: no rows`);
    for (const { version, rows } of counts) {
      const note = !ring.has(version)
        ? `  MISSING from ${variable}`
        : version < ring.currentVersion
          ? "  (to rotate)"
          : "";
      if (!ring.has(version)) complete = false;
      io.out(`${entryName(table)}: version ${version}: ${rows} row(s)${note}`);
    }
  }
  return complete;
}

/** Re-encrypts every row under the ring to its current version, here; exit code. */
export async function rotateRingHere(store: VaultStore, keyRing: KeyRing, io: CliIo) {
  let last = 0;
  const report = await rotateAll({
    store,
    keyRing,
    tables: ENCRYPTED_TABLES,
    onProgress: (p) => {
      if (Date.now() - last < 1000) return;
      last = Date.now();
      io.out(`${p.table}: ${p.rotated} rotated, ${p.skippedConcurrent} left for another pass`);
    },
  });
  for (const t of report.tables) {
    io.out(
      `${t.table}: ${t.rotated} row(s) re-encrypted to version ${report.toVersion}, ${t.failed} failed`,
    );
  }
  if (report.failedIds.length) io.err(`rows that do not decrypt: ${report.failedIds.join(", ")}`);
  io.out(
    report.remaining === 0
      ? "every row is at the current version"
      : `${report.remaining} row(s) still below the current version`,
  );
  return report.remaining === 0 ? 0 : 1;
}

/** `<ring>-key generate | status | rotate` for one ring. */
export function ringCommands(ring: RingName): Record<string, Command> {
  const name = PREFIX[ring];
  const variable = RING_VARIABLE[ring];
  return {
    [`${name} generate`]: {
      usage: `${name} generate`,
      summary: `print a fresh key (add it to ${variable} as NEXT_VERSION:KEY)`,
      async run(_args, io) {
        io.out(generateFernetKey());
        return 0;
      },
    },
    [`${name} status`]: {
      usage: `${name} status`,
      summary: `rows per ${variable} version per encrypted table`,
      async run(_args, io) {
        const c = await config();
        const complete = await withOrm(c, (orm) =>
          printRingStatus(createVaultStore(preparedSqlOf(orm)), ringOf(c, ring), io),
        );
        return complete ? 0 : 1;
      },
    },
    [`${name} rotate`]: {
      usage: `${name} rotate [--wait]`,
      summary:
        `re-encrypt every ${variable} row under its current key: enqueue (for the ` +
        `${ring === "master" ? "signer" : "worker"}), or --wait to run here`,
      async run(args, io) {
        const { values } = parseArgs({ args, options: { wait: { type: "boolean" } } });
        const c = await config();
        if (!values.wait) {
          const redis = createRedisFactory({ url: c.redisUrl, keyPrefix: c.redisPrefix });
          const queues = createQueueRegistry(redis.create("producer", "cli"), redis.bullPrefix);
          try {
            const id = await requestRotation(
              queues.get(ring === "master" ? "vault" : "accountVault"),
            );
            io.out(`rotation to version ${ringOf(c, ring).currentVersion} queued (job ${id})`);
            return 0;
          } finally {
            await queues.close();
            await redis.closeAll();
          }
        }
        return withOrm(c, (orm) =>
          rotateRingHere(createVaultStore(preparedSqlOf(orm)), ringOf(c, ring), io),
        );
      },
    },
  };
}

export const MASTER_KEY_COMMANDS: Record<string, Command> = ringCommands("master");
