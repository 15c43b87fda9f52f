// The /api/auth/email routes: confirming an address from its link, a new link, and adding or
// changing the address (step-up, then a link to the new one). Mounted by createAuthRoutes.
import type { NextFunction, Request, Response, Router } from "express";
import { z } from "zod";
import type { AccountService } from "../domain/accounts/service";
import { type AuthedHandler, clientOf, type Handler, parse } from "./auth-routes";

type Middleware = (req: Request, res: Response, next: NextFunction) => Promise<void>;

const emailConfirm = z.object({ token: z.string().max(256) });
const emailOnly = z.object({ email: z.string().max(512) });
const emailChange = emailOnly;

export function addEmailRoutes(
  router: Router,
  deps: {
    accounts: AccountService;
    wrap: (fn: Handler) => Middleware;
    authed: (fn: AuthedHandler) => Middleware[];
  },
): void {
  const { accounts, wrap, authed } = deps;
  router.post(
    "/email/confirm",
    wrap(async (req, res) => {
      await accounts.confirmEmail(parse(emailConfirm, req.body), clientOf(req));
      res.json({ message: "Email address confirmed." });
    }),
  );

  router.post(
    "/email/resend",
    wrap(async (req, res) => {
      await accounts.resendConfirmation(parse(emailOnly, req.body), clientOf(req));
      res
        .status(202)
        .json({ message: "If the address is not confirmed yet, a new link is on its way." });
    }),
  );

  // Adds an address (an account born in Telegram) or changes it: step-up, then a link to it.
  router.post(
    "/email/change",
    ...authed(async (req, res, a) => {
      const { pendingEmail } = await accounts.changeEmail(
        a,
        parse(emailChange, req.body),
        clientOf(req),
      );
      res.status(202).json({
        pendingEmail,
        message: pendingEmail
          ? "Open the link we sent to the new address to confirm it. Until then your current address stays in use."
          : "A new confirmation link is on its way to your address.",
      });
    }),
  );
}
