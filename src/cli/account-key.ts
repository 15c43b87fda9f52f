// CLI area: ACCOUNT_KEYS — generate, status, rotate (as master-key), and `migrate`: moves the
// account secrets written under MASTER_KEYS before the two rings split (issue 19).
import {
  type AccountKeyRing,
  accountMoves,
  type ExchangeKeyRing,
  moveToAccountRing,
  type VaultStore,
} from "../domain/vault";
import { requireMasterKeys } from "../infra/config";
import { preparedSqlOf } from "../infra/database";
import { createVaultStore } from "../infra/vault-store";
import { config, withOrm } from "./context";
import { ringCommands } from "./master-key";
import type { CliIo, Command } from "./registry";

/**
 * Moves every account row still under MASTER_KEYS to ACCOUNT_KEYS' current version, in
 * batches, while the service runs: a row not yet moved still opens under MASTER_KEYS, a row
 * changed meanwhile is left for the next pass, and a second run finds nothing. Exit code.
 */
export async function migrateAccountSecrets(
  store: VaultStore,
  rings: { master: ExchangeKeyRing; account: AccountKeyRing },
  io: CliIo,
): Promise<number> {
  let last = 0;
  const report = await moveToAccountRing({
    store,
    from: rings.master,
    to: rings.account,
    moves: accountMoves(),
    onProgress: (p) => {
      if (Date.now() - last < 1000) return;
      last = Date.now();
      io.out(`${p.table}: ${p.rotated} moved, ${p.skippedConcurrent} left for another pass`);
    },
  });
  for (const t of report.tables) {
    io.out(
      `${t.table}: ${t.rotated} row(s) moved from MASTER_KEYS to ACCOUNT_KEYS version ${report.toVersion}, ${t.failed} failed`,
    );
  }
  if (report.failedIds.length) io.err(`rows that do not decrypt: ${report.failedIds.join(", ")}`);
  io.out(
    report.remaining === 0
      ? "no account secret is under MASTER_KEYS any more"
      : `${report.remaining} account row(s) still under MASTER_KEYS`,
  );
  return report.remaining === 0 ? 0 : 1;
}

export const ACCOUNT_KEY_COMMANDS: Record<string, Command> = {
  ...ringCommands("account"),
  "account-key migrate": {
    usage: "account-key migrate",
    summary: "move account secrets (TOTP) written under MASTER_KEYS to ACCOUNT_KEYS; resumable",
    async run(_args, io) {
      const c = await config();
      return withOrm(c, (orm) =>
        migrateAccountSecrets(
          createVaultStore(preparedSqlOf(orm)),
          { master: requireMasterKeys(c), account: c.accountKeys },
          io,
        ),
      );
    },
  },
};
