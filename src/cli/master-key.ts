// CLI area: Master keys: generate, status, rotate (S1.2).
import { parseArgs } from "node:util";
import { ENCRYPTED_TABLES, generateFernetKey, rotateAll } from "../domain/vault";
import { preparedSqlOf } from "../infra/database";
import { createRedisFactory } from "../infra/redis";
import { createVaultStore } from "../infra/vault-store";
import { requestRotation } from "../jobs/processors/vault";
import { createQueueRegistry } from "../jobs/registry";
import { config, withOrm } from "./context";
import type { Command } from "./registry";

export const MASTER_KEY_COMMANDS: Record<string, Command> = {
  "master-key generate": {
    usage: "master-key generate",
    summary: "print a fresh master key (add it to MASTER_KEYS as NEXT_VERSION:KEY)",
    async run(_args, io) {
      io.out(generateFernetKey());
      return 0;
    },
  },
  "master-key status": {
    usage: "master-key status",
    summary: "rows per master key version per encrypted table",
    async run(_args, io) {
      const c = await config();
      const ring = c.masterKeys;
      io.out(`MASTER_KEYS versions: ${ring.versions.join(", ")} (current ${ring.currentVersion})`);
      let missing = false;
      await withOrm(c, async (orm) => {
        const store = createVaultStore(preparedSqlOf(orm));
        for (const table of ENCRYPTED_TABLES) {
          const counts = await store.versionCounts(table);
          if (counts.length === 0) io.out(`${table.table}: no rows`);
          for (const { version, rows } of counts) {
            const note = !ring.has(version)
              ? "  MISSING from MASTER_KEYS"
              : version < ring.currentVersion
                ? "  (to rotate)"
                : "";
            if (!ring.has(version)) missing = true;
            io.out(`${table.table}: version ${version}: ${rows} row(s)${note}`);
          }
        }
      });
      return missing ? 1 : 0;
    },
  },
  "master-key rotate": {
    usage: "master-key rotate [--wait]",
    summary: "re-encrypt every row under the current key: enqueue, or --wait to run here",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { wait: { type: "boolean" } } });
      const c = await config();
      if (!values.wait) {
        const redis = createRedisFactory({ url: c.redisUrl, keyPrefix: c.redisPrefix });
        const queues = createQueueRegistry(redis.create("producer", "cli"), redis.bullPrefix);
        try {
          const id = await requestRotation(queues.get("vault"));
          io.out(`rotation to version ${c.masterKeys.currentVersion} queued (job ${id})`);
          return 0;
        } finally {
          await queues.close();
          await redis.closeAll();
        }
      }
      return withOrm(c, async (orm) => {
        let last = 0;
        const report = await rotateAll({
          store: createVaultStore(preparedSqlOf(orm)),
          keyRing: c.masterKeys,
          tables: ENCRYPTED_TABLES,
          onProgress: (p) => {
            if (Date.now() - last < 1000) return;
            last = Date.now();
            io.out(
              `${p.table}: ${p.rotated} rotated, ${p.skippedConcurrent} left for another pass`,
            );
          },
        });
        for (const t of report.tables) {
          io.out(
            `${t.table}: ${t.rotated} row(s) re-encrypted to version ${report.toVersion}, ${t.failed} failed`,
          );
        }
        if (report.failedIds.length)
          io.err(`rows that do not decrypt: ${report.failedIds.join(", ")}`);
        io.out(
          report.remaining === 0
            ? "every row is at the current version"
            : `${report.remaining} row(s) still below the current version`,
        );
        return report.remaining === 0 ? 0 : 1;
      });
    },
  },
};
