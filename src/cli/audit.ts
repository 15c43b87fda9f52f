// CLI area: The trade audit log: verify the chain, export a subject.
import { parseArgs } from "node:util";
import { auditSubject, CHAIN_BREAK_EXPLANATIONS, verifyAuditLog } from "../domain/audit";
import { createAuditChainReader, exportForSubject } from "../infra/audit-log";
import { sqlOf } from "../infra/database";
import { config, withOrm } from "./context";
import type { Command } from "./registry";

export const AUDIT_COMMANDS: Record<string, Command> = {
  "audit verify": {
    usage: "audit verify [--from ID]",
    summary:
      "walk the trade audit log's hash chain and report the first edited, deleted or moved row",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { from: { type: "string" } } });
      if (values.from !== undefined && !/^[1-9][0-9]{0,18}$/.test(values.from)) {
        io.err("--from must be a row id (a positive whole number)");
        return 2;
      }
      const c = await config();
      return withOrm(c, async (orm) => {
        const verdict = await verifyAuditLog(createAuditChainReader(sqlOf(orm)), {
          ...(values.from !== undefined && { fromId: values.from }),
        });
        if (!verdict.ok) {
          io.err(
            `broken at row ${verdict.id}: ${verdict.reason}: ${CHAIN_BREAK_EXPLANATIONS[verdict.reason]}`,
          );
          return 1;
        }
        const from = values.from === undefined ? "" : ` from row ${values.from}`;
        const chains = `; ${verdict.subjects} user chain${verdict.subjects === 1 ? "" : "s"}`;
        const head = verdict.lastId === null ? "" : `; head row ${verdict.lastId} ${verdict.head}`;
        io.out(`${verdict.count} rows verified${from}${chains}${head}`);
        return 0;
      });
    },
  },
  "audit export": {
    usage: "audit export --user <id>",
    summary: "write one user's trade audit entries to stdout as JSON lines, oldest first",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { user: { type: "string" } } });
      // User ids are bigints: "0042" and "42" are the same user.
      const raw = values.user?.trim();
      const user = raw && /^[0-9]{1,19}$/.test(raw) ? BigInt(raw).toString() : raw;
      if (!user) {
        io.err("usage: npm run cli -- audit export --user <id>");
        return 2;
      }
      const c = await config();
      return withOrm(c, async (orm) => {
        for await (const row of exportForSubject(sqlOf(orm), auditSubject(c.auditPepper, user))) {
          io.out(JSON.stringify(row));
        }
        return 0;
      });
    },
  },
};
