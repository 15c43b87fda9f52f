import { createOrm, pendingMigrations, prepareDatabase } from "../infra/database";
import { config } from "./context";
import type { Command } from "./registry";

export const DB_COMMANDS: Record<string, Command> = {
  "db migrate": {
    usage: "db migrate",
    summary: "create the database if missing (not in production) and apply pending migrations",
    async run(_args, io) {
      const c = await config();
      const { created, applied } = await prepareDatabase({
        url: c.databaseUrl,
        ownerUrl: c.databaseOwnerUrl,
        sslCa: c.databaseSslCa,
        create: c.nodeEnv !== "production",
      });
      if (created) io.out("created the database");
      io.out(applied.length ? `applied: ${applied.join(", ")}` : "database is up to date");
      return 0;
    },
  },
  "db status": {
    usage: "db status",
    summary: "list migrations not yet applied",
    async run(_args, io) {
      const c = await config();
      const orm = await createOrm({ url: c.databaseUrl, sslCa: c.databaseSslCa });
      try {
        const pending = await pendingMigrations(orm);
        io.out(pending.length ? `pending: ${pending.join(", ")}` : "no pending migrations");
        return pending.length ? 3 : 0;
      } finally {
        await orm.close();
      }
    },
  },
};
