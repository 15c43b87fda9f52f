// /api/keys: the web face of key onboarding — list (never decrypting), add, rotate, revoke.
// Every change needs a fresh step-up (S4.5); a refusal names each offending permission (S7.1).
import express, { Router } from "express";
import { z } from "zod";
import type { AccountService } from "../domain/accounts/service";
import { type CredentialRecord, KeyNotFound, KeyRefused } from "../domain/venues/key-records";
import type { KeyService } from "../domain/venues/keys";
import { MARGIN_MODES } from "../domain/venues/margin-mode";
import { KeyIntakePending } from "../domain/venues/sealed-keys";
import { VENUE_IDS, VenueError } from "../domain/venues/types";
import { authedHandler, clientOf, noStore, requireAuth } from "./auth-routes";

export function keyView(k: CredentialRecord) {
  return {
    id: k.id,
    venue: k.venue,
    label: k.label,
    testnet: k.testnet,
    network: k.testnet ? "testnet" : "mainnet",
    /** Hyperliquid: cross or isolated margin for this key's orders; null for other venues. */
    marginMode: k.venue === "hyperliquid" ? k.marginMode : null,
    expiresAt: k.expiresAt?.toISOString() ?? null,
    keyHint: k.keyHint,
    walletAddress: k.venue === "hyperliquid" ? k.walletAddress : null,
    scopes: k.verifiedScopes,
    warnings: k.warnings,
    status: k.revokedAt ? "revoked" : k.disabledAt ? "disabled" : "active",
    disabledReason: k.disabledReason,
    verifiedAt: k.verifiedAt?.toISOString() ?? null,
    createdAt: k.createdAt.toISOString(),
    rotatedAt: k.rotatedAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
  };
}

const secret = z.string().min(1).max(512).optional();
const material = z.object({
  label: z.string().max(64).optional(),
  apiKey: secret,
  secret,
  privateKey: secret,
  walletAddress: z.string().max(64).optional(),
});
const addBody = material.extend({
  venue: z.enum(VENUE_IDS),
  /** Connect the key to the venue's test network; it stays there for life. */
  testnet: z.boolean().optional(),
});

/** PATCH /api/keys/:id: the key's settings (today its margin mode; Hyperliquid only). */
const settingsBody = z.object({ marginMode: z.enum(MARGIN_MODES) }).strict();

export function createKeysRoutes(deps: { accounts: AccountService; keys: KeyService }): Router {
  const router = Router();
  router.use(noStore);
  router.use(express.json({ limit: "16kb" }));
  router.use(requireAuth(deps.accounts));

  const handle = authedHandler((err, res) => {
    if (err instanceof KeyRefused) {
      res.status(422).json({
        error: "key_refused",
        message: err.message,
        refusals: err.refusals,
        warnings: err.warnings,
      });
    } else if (err instanceof KeyIntakePending) {
      // Accepted, not finished: the signer may still store the key (sealed intake, issue 19).
      res.status(202).json({ error: err.code, message: err.message });
    } else if (err instanceof KeyNotFound) {
      res.status(404).json({ error: "key_not_found", message: err.message });
    } else if (err instanceof VenueError) {
      res
        .status(err.retryable ? 503 : 502)
        .json({ error: `venue_${err.code}`, message: err.message });
    } else {
      return false;
    }
    return true;
  });

  const parse = <T>(schema: z.ZodType<T>, body: unknown): T => {
    const r = schema.safeParse(body ?? {});
    if (!r.success) {
      const err = new KeyRefused(
        `Missing or invalid field: ${String(r.error.issues[0]?.path[0] ?? "body")}.`,
        [],
      );
      throw err;
    }
    return r.data;
  };

  const buffers = (m: z.infer<typeof material>) => ({
    apiKey: m.apiKey ? Buffer.from(m.apiKey) : null,
    secret: m.secret ? Buffer.from(m.secret) : null,
    privateKey: m.privateKey ? Buffer.from(m.privateKey) : null,
    walletAddress: m.walletAddress ?? null,
  });

  router.get(
    "/",
    handle(async (_req, res, auth) => {
      res.json({ keys: (await deps.keys.list(auth.user.id)).map(keyView) });
    }),
  );

  router.post(
    "/",
    handle(async (req, res, auth) => {
      deps.accounts.requireStepUp(auth);
      const body = parse(addBody, req.body);
      const record = await deps.keys.connect(
        auth.user.id,
        body.venue,
        body.label ?? "",
        { ...buffers(body), testnet: body.testnet === true },
        clientOf(req).ip,
      );
      res.status(201).json({ key: keyView(record) });
    }),
  );

  router.post(
    "/:id/rotate",
    handle(async (req, res, auth) => {
      deps.accounts.requireStepUp(auth);
      const body = parse(material, req.body);
      const record = await deps.keys.rotate(
        auth.user.id,
        String(req.params.id),
        buffers(body),
        clientOf(req).ip,
      );
      res.json({ key: keyView(record) });
    }),
  );

  router.patch(
    "/:id",
    handle(async (req, res, auth) => {
      deps.accounts.requireStepUp(auth);
      const body = parse(settingsBody, req.body);
      const record = await deps.keys.setMarginMode(
        auth.user.id,
        String(req.params.id),
        body.marginMode,
        clientOf(req).ip,
      );
      res.json({ key: keyView(record) });
    }),
  );

  router.delete(
    "/:id",
    handle(async (req, res, auth) => {
      deps.accounts.requireStepUp(auth);
      await deps.keys.revoke(auth.user.id, String(req.params.id), clientOf(req).ip);
      res.status(204).end();
    }),
  );

  return router;
}
