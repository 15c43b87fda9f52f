// A signer in a process of its own, to be killed with SIGKILL in the middle of an intent.
// SIGNER_DIE_AT=before: it prints "holding <action>" before the intent acts, then hangs;
// SIGNER_DIE_AT=after: it lets the trading use case record the trade, prints "executed
// <action>", then hangs before the job can complete. Either way the test kills it there.
import { parseMasterKeys } from "../../src/domain/vault";
import { createOrm } from "../../src/infra/database";
import { startTestSigner } from "./signer-fixtures";

const env = process.env;
const orm = await createOrm({ url: env.DATABASE_URL!, poolMax: 4 });
const dieAt = env.SIGNER_DIE_AT === "before" ? "before" : "after";
const forever = () => new Promise<never>(() => {});

startTestSigner({
  orm,
  redisUrl: env.REDIS_URL!,
  bullPrefix: env.BULL_PREFIX!,
  keyRing: parseMasterKeys(env.MASTER_KEYS!),
  pepper: Buffer.from(env.AUDIT_PEPPER_HEX!, "hex"),
  wrap: (execute) => async (intent) => {
    if (dieAt === "before") {
      process.stdout.write(`holding ${intent.action}\n`);
      return forever();
    }
    await execute(intent);
    process.stdout.write(`executed ${intent.action}\n`);
    return forever();
  },
});
process.stdout.write("signer ready\n");
