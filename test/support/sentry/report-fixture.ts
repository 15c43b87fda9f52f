// Child process of the error-report test: the real configuration, scrubber, error reporter, API
// error handler and decrypt scope, reporting to the SENTRY_DSN the test gives. Sentry's SDK is
// process-global and captures local variables through the inspector, hence a process of its own.
// Besides the configuration it reads FIXTURE_API_KEY and FIXTURE_SECRET (the exchange
// credential's plaintext) and FIXTURE_MARKER (a harmless local that must reach the report).
import * as inspector from "node:inspector";
import type { AddressInfo } from "node:net";
import express from "express";
import { createApi } from "../../../src/api/app";
import { withDecryptedExchangeKeys } from "../../../src/domain/vault/decrypt-scope";
import { loadConfig, requireMasterKeys } from "../../../src/infra/config";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber } from "../../../src/infra/scrub";
import { createErrorReporter } from "../../../src/infra/sentry";

const config = loadConfig(process.env);
const scrubber = createScrubber(config.secretValues);
const logger = createLogger({ level: "info", pretty: false, scrubber });
const reporter = createErrorReporter({
  dsn: config.sentryDsn,
  environment: config.nodeEnv,
  roles: ["api"],
  scrubber,
  logger,
});

const ring = requireMasterKeys(config);
const apiKeyToken = ring.encrypt(Buffer.from(process.env.FIXTURE_API_KEY ?? ""));
const credential = {
  apiKey: apiKeyToken.token,
  secret: ring.encrypt(Buffer.from(process.env.FIXTURE_SECRET ?? "")).token,
  privateKey: null,
  walletAddress: null,
  encryptionKeyVersion: apiKeyToken.version,
};

const router = express.Router();
// A login relay that fails and echoes what it was sent: the password arrives in the body, a
// configured secret sits in an innocently named local.
router.post("/login", express.json(), (req, res) => {
  const loginRequest = req.body as { email: string; password: string };
  const password = loginRequest.password;
  const signingMaterial = config.jwtSecret.toString("utf8");
  const harmless = process.env.FIXTURE_MARKER;
  if (harmless !== undefined) {
    throw new Error(
      `login relay refused {"email":"${loginRequest.email}","password":"${password}"} ` +
        `signed with ${signingMaterial}`,
    );
  }
  res.json({ ok: true });
});
// A venue call that fails inside the decrypt scope, after the key was turned into a string.
router.post("/trade", async (_req, res) => {
  await withDecryptedExchangeKeys(ring, credential, async (keys) => {
    const material = `${keys.apiKey?.toString("utf8")}:${keys.secret?.toString("utf8")}`;
    const harmless = process.env.FIXTURE_MARKER;
    if (material.length > 0 && harmless !== undefined) {
      throw new Error(`venue refused the order (${harmless.length})`);
    }
  });
  res.json({ ok: true });
});
router.get("/inspector", (_req, res) => {
  res.json({ url: inspector.url() ?? null });
});

const app = createApi({
  logger,
  readiness: {},
  trustedProxies: [],
  routes: [{ path: "/fixture", router }],
  reportError: (err, req) =>
    reporter.capture(err, { source: "api", tags: { method: req.method, path: req.path } }),
});
// The SDK attaches its inspector session asynchronously; serve once a thrown error carries the
// captured locals, so the test's first error is not raced against that start.
for (;;) {
  try {
    throw new Error("probe");
  } catch (probe) {
    if ("__SENTRY_ERROR_LOCAL_VARIABLES__" in (probe as object)) break;
  }
  await new Promise((r) => setTimeout(r, 50));
}
const server = app.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`fixture listening on ${port}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  void reporter.close(2_000).then(() => process.exit(0));
});
