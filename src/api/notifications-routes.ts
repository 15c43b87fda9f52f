// GET/PUT /api/notifications: the caller's trade notification settings, per event (entry,
// partial_fill, sl_tp_moved, exit, stop_loss, take_profit, liquidation, liquidation_warning,
// daily_summary) on/off and channels (telegram, email, web), the daily summary's hour (UTC) and
// the liquidation-warning distance (% of the mark).
import express, { Router } from "express";
import { z } from "zod";
import type { AccountService } from "../domain/accounts/service";
import {
  type DailySummaryStore,
  type NotificationSettingsStore,
  NotificationsError,
  updateSettings,
} from "../domain/notifications";
import {
  type LiquidationWarningStore,
  MAX_LIQUIDATION_WARNING_PCT,
  MIN_LIQUIDATION_WARNING_PCT,
} from "../domain/trading/liquidation-warnings";
import { authedHandler, noStore, parse, requireAuth } from "./auth-routes";

const eventPatch = z
  .object({
    enabled: z.boolean().optional(),
    telegram: z.boolean().optional(),
    email: z.boolean().optional(),
    web: z.boolean().optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, "nothing to change");

const body = z
  .object({
    entry: eventPatch.optional(),
    partial_fill: eventPatch.optional(),
    sl_tp_moved: eventPatch.optional(),
    exit: eventPatch.optional(),
    stop_loss: eventPatch.optional(),
    take_profit: eventPatch.optional(),
    liquidation: eventPatch.optional(),
    liquidation_warning: eventPatch.optional(),
    daily_summary: eventPatch.optional(),
    dailySummaryHour: z.number().int().min(0).max(23).optional(),
    liquidationWarningPct: z
      .number()
      .min(MIN_LIQUIDATION_WARNING_PCT)
      .max(MAX_LIQUIDATION_WARNING_PCT)
      .refine((n) => Math.round(n * 100) === n * 100, "at most two decimals")
      .optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, "nothing to change");

export function createNotificationsRoutes(deps: {
  accounts: AccountService;
  settings: NotificationSettingsStore & {
    contactOf(userId: string): Promise<{ chatId: number | null; email: string | null }>;
  };
  dailySummary: Pick<DailySummaryStore, "hourOf" | "setHour">;
  liquidationWarnings: Pick<LiquidationWarningStore, "distanceOf" | "setDistance">;
}): Router {
  const router = Router();
  router.use("/notifications", noStore);
  router.use("/notifications", express.json({ limit: "4kb" }));
  router.use("/notifications", requireAuth(deps.accounts));
  const handle = authedHandler((err, res) => {
    if (!(err instanceof NotificationsError)) return false;
    res.status(409).json({ error: err.code, message: err.message });
    return true;
  });

  router.get(
    "/notifications",
    handle(async (_req, res, auth) => {
      res.json({
        settings: await deps.settings.get(auth.user.id),
        dailySummaryHour: await deps.dailySummary.hourOf(auth.user.id),
        liquidationWarningPct: await deps.liquidationWarnings.distanceOf(auth.user.id),
      });
    }),
  );

  router.put(
    "/notifications",
    handle(async (req, res, auth) => {
      const { dailySummaryHour, liquidationWarningPct, ...patch } = parse(body, req.body);
      const settings = await updateSettings(
        deps.settings,
        auth.user.id,
        patch,
        await deps.settings.contactOf(auth.user.id),
      );
      if (dailySummaryHour !== undefined) {
        await deps.dailySummary.setHour(auth.user.id, dailySummaryHour);
      }
      if (liquidationWarningPct !== undefined) {
        await deps.liquidationWarnings.setDistance(auth.user.id, liquidationWarningPct);
      }
      res.json({
        settings,
        dailySummaryHour: await deps.dailySummary.hourOf(auth.user.id),
        liquidationWarningPct: await deps.liquidationWarnings.distanceOf(auth.user.id),
      });
    }),
  );
  return router;
}
