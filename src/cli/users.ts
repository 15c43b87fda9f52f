import { AccountHasOpenTrades, anonymiseAccount } from "../infra/account-deletion";
import { sqlOf } from "../infra/database";
import { createOneTimeTokenStore } from "../infra/one-time-tokens";
import { createRedisFactory } from "../infra/redis";
import { createWebSocketSessionEnder } from "../infra/ws-hub";
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
  "user delete": {
    usage: "user delete <email|#id> --yes",
    summary:
      "delete an account (refused while it has open trades): its identity, sign-ins, link and keys go; findings, deliveries, security events and trades stay (anonymised)",
    async run(args, io) {
      const yes = args.includes("--yes");
      const rest = args.filter((a) => a !== "--yes");
      const who = rest[0]?.trim().toLowerCase();
      if (!who || rest.length !== 1 || !yes) {
        io.err("usage: npm run cli -- user delete <email|#id> --yes");
        return 2;
      }
      const c = await config();
      const redis = createRedisFactory({ url: c.redisUrl, keyPrefix: c.redisPrefix });
      let result: Awaited<ReturnType<typeof anonymiseAccount>>;
      try {
        result = await withOrm(c, async (orm) => {
          const [row] = who.startsWith("#")
            ? await sqlOf(orm)(
                "select id::text as id from users where id = ? and deleted_at is null",
                [/^#\d{1,19}$/.test(who) ? who.slice(1) : "0"],
              )
            : await sqlOf(orm)("select id::text as id from users where email = ?", [who]);
          if (!row) return null;
          // Its outstanding reset, link and confirmation tokens are voided with it.
          const tokens = createOneTimeTokenStore(redis.create("client", "cli"));
          return anonymiseAccount(orm, row.id as string, "cli", { tokens });
        });
        if (!result) {
          io.err(`no account ${who}`);
          return 1;
        }
        // Open sockets of the account close on every API process (their sessions are gone).
        const publisher = redis.create("producer", "cli");
        // The producer connection queues nothing while offline: wait for it to be ready.
        if (publisher.status !== "ready") {
          await new Promise<void>((resolve, reject) => {
            publisher.once("ready", () => resolve());
            publisher.once("end", () => reject(new Error("Redis is unreachable")));
          });
        }
        await createWebSocketSessionEnder(publisher)(result.userId, null);
      } catch (err) {
        if (!(err instanceof AccountHasOpenTrades)) throw err;
        io.err(
          `account ${who} has ${err.openTrades} open trade(s)${err.pendingOpens > 0 ? ` and ${err.pendingOpens} order(s) still being placed` : ""}: close them first (in the bot or on the web), then delete the account. Nothing was deleted.`,
        );
        return 1;
      } finally {
        await redis.closeAll();
      }
      io.out(
        `account #${result.userId} deleted: ${result.sessionsEnded} session(s) ended, ${result.keysRevoked} key(s) revoked; its findings and security events are kept.`,
      );
      return 0;
    },
  },
};
