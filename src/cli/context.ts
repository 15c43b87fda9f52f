import { type Config, loadConfig } from "../infra/config";
import { createOrm } from "../infra/database";
import { type DevServices, startDevServices } from "../startup/dev-services";

let devServices: DevServices | undefined;

/** The service's configuration; in development also the embedded database (stopped by runCli). */
export async function config(): Promise<Config> {
  devServices ??= await startDevServices(process.env);
  // The command line serves neither the api nor the bot and is not the signer: MASTER_KEYS is
  // optional here, and only the commands that use it ask for it (requireMasterKeys), so that
  // backups and migrations run from warden.env, which no longer holds it (issue 19).
  return loadConfig({ ...devServices.env, WARDEN_ROLES: "worker" });
}

export async function withOrm<T>(
  c: Config,
  fn: (orm: Awaited<ReturnType<typeof createOrm>>) => Promise<T>,
) {
  const orm = await createOrm({ url: c.databaseUrl, sslCa: c.databaseSslCa, poolMax: 2 });
  try {
    return await fn(orm);
  } finally {
    await orm.close();
  }
}

/** Stops what config() started (the embedded database, a private Redis). */
export async function stopDevServices(): Promise<void> {
  await devServices?.stop();
  devServices = undefined;
}
