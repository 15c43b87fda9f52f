// Wiring of key onboarding from configuration (./key-records.ts) with the checks that decrypt
// stored keys: re-verification and expiry warnings, the signer's.
import { createKeyChecks } from "../domain/venues/key-checks";
import { createKeyService } from "../domain/venues/keys";
import type { Config } from "../infra/config";
import { keyServiceDeps } from "./key-records";

/**
 * Key onboarding and the checks that decrypt stored keys (re-verification, expiry warnings):
 * the signer's key service.
 */
export function createKeys(
  config: Omit<Config, "masterKeys" | "accountKeys" | "secretValues">,
  parts: Parameters<typeof keyServiceDeps>[1],
) {
  const deps = keyServiceDeps(config, parts);
  return { ...createKeyService(deps), ...createKeyChecks(deps) };
}
