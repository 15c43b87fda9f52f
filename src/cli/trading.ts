// CLI area: Kill switch: pause, resume and show trading (S7).
import { parseArgs } from "node:util";
import { createKillSwitch, KillSwitchError, type PauseTarget } from "../domain/trading/pause";
import { createAccountsRepo } from "../infra/accounts-repo";
import { type createOrm, sqlOf } from "../infra/database";
import { createPauseStore } from "../infra/pause-store";
import { config, withOrm } from "./context";
import type { Command } from "./registry";

function killSwitchOf(orm: Awaited<ReturnType<typeof createOrm>>) {
  const sql = sqlOf(orm);
  const repo = createAccountsRepo(sql);
  return createKillSwitch({
    store: createPauseStore(sql),
    recordEvent: (e) => repo.recordEvent(e),
  });
}

/** --user ID → that user; no --user → everyone. Undefined when the id is malformed. */
function pauseTarget(user: string | undefined): PauseTarget | undefined {
  if (user === undefined) return { scope: "global" };
  const raw = user.trim();
  return /^[0-9]{1,19}$/.test(raw) ? { scope: "user", userId: BigInt(raw).toString() } : undefined;
}

export const TRADING_COMMANDS: Record<string, Command> = {
  "trading pause": {
    usage: "trading pause [--user ID] [--block-close] [--reason TEXT]",
    summary:
      "kill switch: refuse opens and changes (closes too with --block-close) for everyone or one user",
    async run(args, io) {
      const { values } = parseArgs({
        args,
        options: {
          user: { type: "string" },
          "block-close": { type: "boolean" },
          reason: { type: "string" },
        },
      });
      const target = pauseTarget(values.user);
      if (!target) {
        io.err("--user must be a user id (a whole number)");
        return 2;
      }
      const c = await config();
      return withOrm(c, async (orm) => {
        try {
          const { result, blocksClose } = await killSwitchOf(orm).pause({ via: "cli" }, target, {
            reason: values.reason,
            blocksClose: values["block-close"] ?? false,
          });
          const who = target.scope === "global" ? "everyone" : `user ${target.userId}`;
          io.out(
            `trading ${result === "updated" ? "pause updated" : "paused"} for ${who}: ` +
              (blocksClose
                ? "every trade action is refused, closes too"
                : "opens and changes are refused, closes still work"),
          );
          return 0;
        } catch (err) {
          if (!(err instanceof KillSwitchError)) throw err;
          io.err(err.message);
          return 1;
        }
      });
    },
  },
  "trading resume": {
    usage: "trading resume [--user ID]",
    summary: "lift the pause for everyone (or for one user)",
    async run(args, io) {
      const { values } = parseArgs({ args, options: { user: { type: "string" } } });
      const target = pauseTarget(values.user);
      if (!target) {
        io.err("--user must be a user id (a whole number)");
        return 2;
      }
      const c = await config();
      return withOrm(c, async (orm) => {
        const { removed } = await killSwitchOf(orm).resume({ via: "cli" }, target);
        const who = target.scope === "global" ? "everyone" : `user ${target.userId}`;
        io.out(removed ? `trading resumed for ${who}` : `trading was not paused for ${who}`);
        return 0;
      });
    },
  },
  "trading status": {
    usage: "trading status",
    summary: "list the pauses in force",
    async run(_args, io) {
      const c = await config();
      return withOrm(c, async (orm) => {
        const pauses = await killSwitchOf(orm).status();
        if (pauses.length === 0) io.out("trading is not paused");
        for (const p of pauses) {
          const by = p.pausedBy.via === "cli" ? "the CLI" : `admin user ${p.pausedBy.adminUserId}`;
          io.out(
            `${p.userId === null ? "everyone" : `user ${p.userId}`}: paused since ${p.pausedAt.toISOString()} by ${by}` +
              `${p.blocksClose ? ", closes refused too" : ""}${p.reason ? ` — ${p.reason}` : ""}`,
          );
        }
        return 0;
      });
    },
  },
};
