// /api/alerts: the caller's alert channels and their answer to an alert. Switching a channel
// off silences alerts, so it needs a fresh step-up (S4.5); so does "not me", which revokes keys.
import express, { Router } from "express";
import { z } from "zod";
import { AccountError } from "../domain/accounts/errors";
import type { AccountService } from "../domain/accounts/service";
import type { AuthContext } from "../domain/accounts/shared";
import {
  type AlertStore,
  AlertsError,
  alertEvent,
  reportItWasMe,
  updatePreferences,
} from "../domain/alerts";
import { authedHandler, noStore, parse, requireAuth } from "./auth-routes";

const prefsBody = z
  .object({
    telegram: z.boolean().optional(),
    email: z.boolean().optional(),
    websocket: z.boolean().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, "nothing to change");

const idParam = z.string().regex(/^\d{1,19}$/);

export function createAlertsRoutes(deps: {
  accounts: AccountService;
  store: AlertStore;
  /** "Not me": revokes every key of the user and tells the admins. */
  notMe: (userId: string, anomalyId: string) => Promise<{ revoked: string[] }>;
  now: () => number;
}): Router {
  const router = Router();
  router.use(noStore);
  router.use(express.json({ limit: "4kb" }));
  router.use(requireAuth(deps.accounts));

  const handle = authedHandler((err, res) => {
    if (err instanceof AlertsError) {
      res
        .status(err.code === "reauth_required" ? 401 : 404)
        .json({ error: err.code, message: err.message });
    } else {
      return false;
    }
    return true;
  });

  const steppedUp = (auth: AuthContext) => {
    try {
      deps.accounts.requireStepUp(auth);
      return true;
    } catch (err) {
      if (err instanceof AccountError) return false;
      throw err;
    }
  };

  router.get(
    "/",
    handle(async (_req, res, auth) => {
      const [preferences, recent] = await Promise.all([
        deps.store.preferences(auth.user.id),
        deps.store.recentFor(auth.user.id, 20),
      ]);
      // The caller's own findings, recorded-only ones too, with the delivery decision and
      // their answer: the evidence holds only their own actions.
      res.json({
        preferences,
        recent: recent.map((a) => ({
          ...alertEvent(a).alert,
          delivery: a.delivery,
          verdict: a.verdict,
        })),
      });
    }),
  );

  router.put(
    "/",
    handle(async (req, res, auth) => {
      const change = parse(prefsBody, req.body);
      const preferences = await updatePreferences(deps.store, auth.user.id, change, {
        steppedUp: steppedUp(auth),
      });
      res.json({ preferences });
    }),
  );

  router.post(
    "/:id/me",
    handle(async (req, res, auth) => {
      await reportItWasMe(deps.store, auth.user.id, parse(idParam, req.params.id), deps.now, {
        steppedUp: steppedUp(auth),
      });
      res.status(204).end();
    }),
  );

  router.post(
    "/:id/not-me",
    handle(async (req, res, auth) => {
      deps.accounts.requireStepUp(auth);
      const { revoked } = await deps.notMe(auth.user.id, parse(idParam, req.params.id));
      res.json({ revoked });
    }),
  );

  return router;
}
