// Secrets for benchmark processes, generated per run (never fixed values in the repository).
import { randomBytes } from "node:crypto";

const fernetKey = () => `${randomBytes(32).toString("base64url")}=`;
const secret = () => randomBytes(32).toString("base64url");

export function testEnvForBench(): Record<string, string> {
  return {
    MASTER_KEYS: `1:${fernetKey()}`,
    BACKUP_ENCRYPTION_KEY: fernetKey(),
    JWT_SECRET: secret(),
    PASSWORD_PEPPER: secret(),
    AUDIT_PEPPER: secret(),
  };
}
