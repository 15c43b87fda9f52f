import { sqlOf } from "../infra/database";
import { config, withOrm } from "./context";
import type { Command } from "./registry";

export const USERS_COMMANDS: Record<string, Command> = {
  "user promote": {
    usage: "user promote <email>",
    summary: "make the account with this email an admin (they must then enrol 2FA to act as one)",
    async run(args, io) {
      const email = args[0]?.trim().toLowerCase();
      if (!email || args.length !== 1) {
        io.err("usage: npm run cli -- user promote <email>");
        return 2;
      }
      const c = await config();
      return withOrm(c, async (orm) => {
        const sql = sqlOf(orm);
        const rows = await sql(
          "update users set role = 'admin', updated_at = now() where email = ? returning id::text as id, totp_enabled_at",
          [email],
        );
        if (!rows[0]) {
          io.err(`no account with email ${email}`);
          return 1;
        }
        await sql(
          "insert into security_events (user_id, kind, outcome, details) values (?, 'admin_promoted', 'ok', ?::jsonb)",
          [rows[0].id, JSON.stringify({ via: "cli" })],
        );
        io.out(
          `${email} is now an admin.` +
            (rows[0].totp_enabled_at ? "" : " Admin actions stay locked until they enable 2FA."),
        );
        return 0;
      });
    },
  },
};
