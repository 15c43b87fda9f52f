// The /api/auth routes: each validates its body, calls one account use case and renders the
// result; errors are JSON {error, message} and nothing here is cached (S9.1).
import express, { type NextFunction, type Request, type Response, Router } from "express";
import { z } from "zod";
import { AccountError, type AccountErrorCode } from "../domain/accounts/errors";
import type { AccountService } from "../domain/accounts/service";
import type { AuthContext, ClientInfo, SignedIn } from "../domain/accounts/shared";
import { addEmailRoutes } from "./email-routes";

export const REFRESH_COOKIE = "__Secure-warden_refresh";
export const REFRESH_COOKIE_PATH = "/api/auth";

const STATUS: Record<AccountErrorCode, number> = {
  password_too_short: 400,
  password_too_long: 400,
  password_breached: 400,
  breach_check_unavailable: 503,
  invalid_totp: 401,
  totp_replayed: 401,
  invalid_backup_code: 401,
  invalid_token: 401,
  token_expired: 401,
  invalid_email: 400,
  email_taken: 409,
  invalid_credentials: 401,
  rate_limited: 429,
  reauth_required: 401,
  step_up_required: 403,
  invalid_challenge: 401,
  invalid_reset_token: 400,
  invalid_confirmation_token: 400,
  email_not_confirmed: 403,
  email_unchanged: 409,
  totp_not_enabled: 400,
  totp_already_enabled: 409,
  totp_not_pending: 400,
  admin_requires_2fa: 403,
  admin_cannot_disable_2fa: 403,
  invalid_link_code: 400,
  telegram_already_linked: 409,
  account_already_linked: 409,
  telegram_not_linked: 404,
  session_not_found: 404,
  password_not_set: 400,
};

export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Maps coded errors to HTTP; anything else is left to the app's scrubbed 500 handler. */
export function sendError(res: Response, err: unknown): boolean {
  if (err instanceof AccountError) {
    if (err.code === "rate_limited" && err.retryAfterSeconds !== undefined) {
      res.setHeader("Retry-After", String(Math.max(1, err.retryAfterSeconds)));
    }
    res.status(STATUS[err.code]).json({
      error: err.code,
      message: err.message,
      ...(err.breachCount !== undefined && { breachCount: err.breachCount }),
    });
    return true;
  }
  if (err instanceof RequestError) {
    res.status(err.status).json({ error: err.code, message: err.message });
    return true;
  }
  return false;
}

/**
 * Wraps an authenticated route: runs it with the caller's AuthContext; errors go first to the
 * router's own `mapError` (true when it answered), then to the account error mapping, and
 * anything else to the app's scrubbed 500 handler.
 */
export function authedHandler(mapError: (err: unknown, res: Response) => boolean) {
  return (fn: (req: Request, res: Response, auth: AuthContext) => Promise<void>) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      try {
        await fn(req, res, res.locals.auth as AuthContext);
      } catch (err) {
        if (!mapError(err, res) && !sendError(res, err)) next(err);
      }
    };
}

export function clientOf(req: Request): ClientInfo {
  return { ip: req.ip ?? null, userAgent: req.get("user-agent") ?? null };
}

export function readCookie(req: Request, name: string): string | undefined {
  const header = req.get("cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) {
      // A malformed escape is a cookie we never set: treated as no cookie (401), not a 500.
      try {
        return decodeURIComponent(part.slice(i + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

// S5.3: exactly these attributes; no Domain, so the cookie never leaves this host.
function setRefreshCookie(res: Response, token: string) {
  res.append(
    "Set-Cookie",
    `${REFRESH_COOKIE}=${token}; HttpOnly; Secure; SameSite=Strict; Path=${REFRESH_COOKIE_PATH}`,
  );
}

function clearRefreshCookie(res: Response) {
  res.append(
    "Set-Cookie",
    `${REFRESH_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=${REFRESH_COOKIE_PATH}; Max-Age=0`,
  );
}

function signedIn(res: Response, s: SignedIn, status = 200) {
  setRefreshCookie(res, s.refreshToken);
  res.status(status).json({ accessToken: s.accessToken, expiresIn: s.expiresIn });
}

const str = (max: number) => z.string().max(max);
const schemas = {
  credentials: z.object({ email: str(512), password: str(4096) }),
  secondFactor: z.object({ challenge: str(256), code: str(64) }),
  code: z.object({ code: str(64) }),
  stepUp: z.object({ password: str(4096).optional(), code: str(64).optional() }),
  change: z.object({ currentPassword: str(4096), newPassword: str(4096) }),
  resetRequest: z.object({ email: str(512) }),
  resetConfirm: z.object({ token: str(256), password: str(4096) }),
  initData: z.object({ initData: str(8192) }),
  linkCode: z.object({ code: str(256) }),
};

/** Validates a body, query or path value; a 400 naming the first bad field otherwise. */
export function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const field = String(r.error.issues[0]?.path[0] ?? "body");
    throw new RequestError(400, "invalid_request", `Missing or invalid field: ${field}.`);
  }
  return r.data;
}

export type Handler = (req: Request, res: Response) => Promise<void>;
export type AuthedHandler = (req: Request, res: Response, auth: AuthContext) => Promise<void>;

export interface AuthRoutesDeps {
  accounts: AccountService;
  allowedOrigins: readonly string[];
  /** PNG data URL of a QR code for the otpauth URI. */
  qrDataUrl: (text: string) => Promise<string>;
  botUsername?: () => string | undefined;
}

/** Every answer of a router that deals in accounts, keys or trades: never cached. */
export function noStore(_req: Request, res: Response, next: NextFunction) {
  res.setHeader("Cache-Control", "no-store");
  next();
}

/** Authenticates `Authorization: Bearer <accessToken>`; the context is in res.locals.auth. */
export function requireAuth(accounts: AccountService) {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get("authorization") ?? "";
    const m = /^Bearer ([A-Za-z0-9._~+/=-]{10,4096})$/.exec(header);
    try {
      if (!m?.[1]) throw new AccountError("invalid_token");
      res.locals.auth = await accounts.authenticate(m[1]);
      next();
    } catch (err) {
      if (!sendError(res, err)) next(err);
    }
  };
}

export function createAuthRoutes(deps: AuthRoutesDeps): Router {
  const { accounts } = deps;
  const router = Router();
  router.use(noStore, (_req, res, next) => {
    res.setHeader("Pragma", "no-cache");
    next();
  });
  router.use(express.json({ limit: "32kb" }));

  const wrap =
    (fn: Handler) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      try {
        await fn(req, res);
      } catch (err) {
        if (!sendError(res, err)) next(err);
      }
    };
  const auth = requireAuth(accounts);
  const authed = (fn: AuthedHandler) => [
    auth,
    wrap((req, res) => fn(req, res, res.locals.auth as AuthContext)),
  ];

  router.post(
    "/register",
    wrap(async (req, res) => {
      const body = parse(schemas.credentials, req.body);
      const { breachCheckSkipped } = await accounts.register(body, clientOf(req));
      // The same answer for a new and an already-registered address.
      res.status(202).json({
        status: "check_your_mail",
        message: "Check your mail: open the link we sent to finish creating your account.",
        ...(breachCheckSkipped && {
          notice: "breach_check_skipped",
          noticeMessage:
            "The breached-password check could not be reached, so it was skipped for this password.",
        }),
      });
    }),
  );

  router.post(
    "/login",
    wrap(async (req, res) => {
      const result = await accounts.login(parse(schemas.credentials, req.body), clientOf(req));
      if ("challenge" in result) res.json({ challenge: result.challenge });
      else signedIn(res, result);
    }),
  );

  router.post(
    "/login/2fa",
    wrap(async (req, res) => {
      signedIn(
        res,
        await accounts.loginSecondFactor(parse(schemas.secondFactor, req.body), clientOf(req)),
      );
    }),
  );

  router.post(
    "/telegram",
    wrap(async (req, res) => {
      const { initData } = parse(schemas.initData, req.body);
      const result = await accounts.signInWithInitData(initData, clientOf(req));
      if ("challenge" in result) res.json({ challenge: result.challenge });
      else signedIn(res, result);
    }),
  );

  // S5.3: refresh only by POST from an allow-listed Origin (a cross-site form cannot forge it).
  router.post(
    "/refresh",
    wrap(async (req, res) => {
      const origin = req.get("origin");
      if (!origin || !deps.allowedOrigins.includes(origin)) {
        throw new RequestError(
          403,
          "origin_not_allowed",
          "Refresh is only allowed from Warden's own pages.",
        );
      }
      try {
        signedIn(res, await accounts.refresh(readCookie(req, REFRESH_COOKIE), clientOf(req)));
      } catch (err) {
        clearRefreshCookie(res);
        throw err;
      }
    }),
  );

  router.post(
    "/logout",
    wrap(async (req, res) => {
      let context: AuthContext | null = null;
      const header = req.get("authorization");
      if (header?.startsWith("Bearer ")) {
        context = await accounts.authenticate(header.slice(7)).catch(() => null);
      }
      await accounts.logout(context, readCookie(req, REFRESH_COOKIE), clientOf(req));
      clearRefreshCookie(res);
      res.status(204).end();
    }),
  );

  // What the settings page shows about the signed-in account; never a secret or a hash.
  router.get(
    "/me",
    ...authed(async (_req, res, a) => {
      const telegram = await accounts.linkedTelegram(a);
      res.json({
        user: {
          id: a.user.id,
          email: a.user.email,
          emailConfirmed: a.user.emailConfirmedAt !== null,
          pendingEmail: a.user.pendingEmail,
          role: a.user.role,
          hasPassword: a.user.passwordHash !== null,
          totpEnabled: a.user.totpEnabledAt !== null,
          telegramLinked: a.user.telegramUserId !== null,
          /** {id, name, linkedAt} of the linked Telegram account, or null. */
          telegram,
        },
      });
    }),
  );

  router.post(
    "/step-up",
    ...authed(async (req, res, a) => {
      await accounts.stepUp(a, parse(schemas.stepUp, req.body), clientOf(req));
      res.json({ ok: true });
    }),
  );

  router.post(
    "/password/change",
    ...authed(async (req, res, a) => {
      signedIn(
        res,
        await accounts.changePassword(a, parse(schemas.change, req.body), clientOf(req)),
      );
    }),
  );

  router.post(
    "/password/reset/request",
    wrap(async (req, res) => {
      await accounts.requestPasswordReset(parse(schemas.resetRequest, req.body), clientOf(req));
      res
        .status(202)
        .json({ message: "If an account uses this email, a reset link is on its way." });
    }),
  );

  addEmailRoutes(router, { accounts, wrap, authed });

  router.post(
    "/password/reset/confirm",
    wrap(async (req, res) => {
      await accounts.confirmPasswordReset(parse(schemas.resetConfirm, req.body), clientOf(req));
      res.json({ message: "Password changed. Sign in with your new password." });
    }),
  );

  router.post(
    "/2fa/enroll",
    ...authed(async (_req, res, a) => {
      const e = await accounts.startTotpEnrolment(a);
      res.json({
        secret: e.secret,
        otpauthUri: e.otpauthUri,
        qrCode: await deps.qrDataUrl(e.otpauthUri),
      });
    }),
  );

  router.post(
    "/2fa/confirm",
    ...authed(async (req, res, a) => {
      res.json(
        await accounts.confirmTotpEnrolment(a, parse(schemas.code, req.body), clientOf(req)),
      );
    }),
  );

  router.post(
    "/2fa/disable",
    ...authed(async (req, res, a) => {
      await accounts.disableTotp(a, parse(schemas.code, req.body), clientOf(req));
      res.json({ ok: true });
    }),
  );

  router.post(
    "/2fa/backup-codes/regenerate",
    ...authed(async (req, res, a) => {
      res.json(
        await accounts.regenerateBackupCodes(a, parse(schemas.code, req.body), clientOf(req)),
      );
    }),
  );

  router.get(
    "/sessions",
    ...authed(async (_req, res, a) => {
      res.json({ sessions: await accounts.listSessions(a) });
    }),
  );

  router.delete(
    "/sessions/:id",
    ...authed(async (req, res, a) => {
      await accounts.revokeSession(a, String(req.params.id), clientOf(req));
      res.status(204).end();
    }),
  );

  router.delete(
    "/sessions",
    ...authed(async (req, res, a) => {
      const revoked = await accounts.revokeAllSessions(a, clientOf(req));
      clearRefreshCookie(res);
      res.json({ revoked });
    }),
  );

  router.post(
    "/ws-ticket",
    ...authed(async (_req, res, a) => {
      res.json(await accounts.issueWsTicket(a));
    }),
  );

  router.post(
    "/telegram/link-code",
    ...authed(async (_req, res, a) => {
      const { code, expiresIn } = await accounts.issueTelegramLinkCode(a);
      const bot = deps.botUsername?.();
      res.json({ code, expiresIn, deepLink: bot ? `https://t.me/${bot}?start=${code}` : null });
    }),
  );

  router.post(
    "/telegram/link",
    ...authed(async (req, res, a) => {
      const { code } = parse(schemas.linkCode, req.body);
      const r = await accounts.linkTelegramWithBotCode(a, code, clientOf(req));
      res.json({ linked: true, telegramUserId: r.user.telegramUserId });
    }),
  );

  router.delete(
    "/telegram/link",
    ...authed(async (req, res, a) => {
      await accounts.unlinkTelegram(a, clientOf(req));
      res.status(204).end();
    }),
  );

  router.use((_req, res) => {
    res.status(404).json({ error: "not_found", message: "No such endpoint." });
  });
  return router;
}
