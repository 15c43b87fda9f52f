// Operator CLI: `npm run cli -- <command>`. Each area's commands live in src/cli/<area>.ts and
// read the same configuration as the service; results are short and scrubbed, the exit code
// tells success (2: usage).
import { ACCOUNT_KEY_COMMANDS } from "./cli/account-key";
import { AUDIT_COMMANDS } from "./cli/audit";
import { BACKUP_COMMANDS } from "./cli/backup";
import { DB_COMMANDS } from "./cli/db";
import { MASTER_KEY_COMMANDS } from "./cli/master-key";
import { PAPER_COMMANDS } from "./cli/paper";
import { type CliIo, createRegistry, helpText as help, runCli as run } from "./cli/registry";
import { TRADING_COMMANDS } from "./cli/trading";
import { USERS_COMMANDS } from "./cli/users";
import { WORKER_COMMANDS } from "./cli/worker";

export type { CliIo } from "./cli/registry";

export const COMMANDS = createRegistry(
  TRADING_COMMANDS,
  BACKUP_COMMANDS,
  USERS_COMMANDS,
  MASTER_KEY_COMMANDS,
  ACCOUNT_KEY_COMMANDS,
  AUDIT_COMMANDS,
  DB_COMMANDS,
  WORKER_COMMANDS,
  PAPER_COMMANDS,
);

export const helpText = (): string => help(COMMANDS);
export const runCli = (argv: string[], io: CliIo): Promise<number> => run(COMMANDS, argv, io);

if (process.argv[1]?.endsWith("cli.ts")) {
  runCli(process.argv.slice(2), {
    out: (l) => process.stdout.write(`${l}\n`),
    err: (l) => process.stderr.write(`${l}\n`),
  }).then((code) => process.exit(code));
}
