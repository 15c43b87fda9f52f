// Sessions: access-token checks, refresh rotation, logout, step-up, the session list and
// revocation, WebSocket tickets and the admin gate (S4, S5.3).
import { AccountError } from "./errors";
import { verifyPassword } from "./password";
import {
  type AccountHelpers,
  type AuthContext,
  type ClientInfo,
  LOCKOUT,
  REFRESH_TTL_MS,
  SESSION_MAX_AGE_MS,
  type SignedIn,
  WS_TICKET_TTL_S,
} from "./shared";
import { issuedBeforeCutoff, randomToken, sha256Hex } from "./tokens";

export function createSessions(h: AccountHelpers) {
  const { deps, repo, now } = h;
  return {
    /** Verifies an access token and its session; throws invalid_token otherwise. */
    async authenticate(accessToken: string): Promise<AuthContext> {
      const claims = await deps.accessTokens.verify(accessToken);
      const user = await h.userOf(claims.sub);
      // One signature check per request; the user's cut-off is applied to the verified claims.
      if (issuedBeforeCutoff(claims.iat, user.tokensValidAfter))
        throw new AccountError("invalid_token");
      if (!claims.sid) throw new AccountError("invalid_token");
      const session = await repo.findSession(claims.sid);
      if (!session || session.revokedAt || session.userId !== user.id)
        throw new AccountError("invalid_token");
      return { user, session };
    },

    async refresh(refreshToken: string | undefined, client: ClientInfo): Promise<SignedIn> {
      if (!refreshToken || refreshToken.length > 256) throw new AccountError("invalid_token");
      const use = await repo.useRefreshToken(sha256Hex(refreshToken), new Date(now()));
      if (use.status === "unknown") throw new AccountError("invalid_token");
      const session = await repo.findSession(use.sessionId);
      if (use.status === "reused") {
        // S5.3: a used token coming back means it was stolen or replayed: kill the family.
        await repo.revokeSession(use.sessionId, "refresh_token_reuse");
        if (session) await h.sessionsEnded(session.userId, use.sessionId);
        await repo.recordEvent({
          userId: session?.userId ?? null,
          kind: "refresh_reuse",
          outcome: "detected",
          ip: client.ip,
          details: { sessionId: use.sessionId },
        });
        throw new AccountError("invalid_token");
      }
      if (use.status === "expired" || !session || session.revokedAt)
        throw new AccountError("invalid_token");
      if (now() - session.createdAt.getTime() > SESSION_MAX_AGE_MS) {
        await repo.revokeSession(session.id, "expired");
        throw new AccountError("token_expired");
      }
      const user = await h.userOf(session.userId);
      const next = randomToken(32);
      await repo.storeRefreshToken(sha256Hex(next), session.id, new Date(now() + REFRESH_TTL_MS));
      const access = await deps.accessTokens.sign({
        sub: user.id,
        sid: session.id,
        role: user.role,
      });
      return {
        accessToken: access.token,
        expiresIn: access.expiresIn,
        refreshToken: next,
        sessionId: session.id,
      };
    },

    async logout(auth: AuthContext | null, refreshToken: string | undefined, client: ClientInfo) {
      let sessionId = auth?.session.id;
      if (!sessionId && refreshToken) {
        const use = await repo.useRefreshToken(sha256Hex(refreshToken), new Date(now()));
        if (use.status !== "unknown") sessionId = use.sessionId;
      }
      if (sessionId) {
        await repo.revokeSession(sessionId, "logout");
        const ended = auth?.session ?? (await repo.findSession(sessionId));
        if (ended) await h.sessionsEnded(ended.userId, sessionId);
        await repo.recordEvent({
          userId: auth?.user.id ?? null,
          kind: "logout",
          outcome: "ok",
          ip: client.ip,
        });
      }
    },

    /** S4.5: sensitive actions need a step-up from the last five minutes. */
    requireStepUp: h.requireStepUp,

    /** Password (when the account has one) plus the current 2FA code (when enrolled). */
    async stepUp(
      auth: AuthContext,
      input: { password?: unknown; code?: unknown },
      client: ClientInfo,
    ) {
      const { user } = auth;
      await h.assertNotLocked(`stepup:${user.id}`);
      if (user.passwordHash) {
        const ok =
          typeof input.password === "string" &&
          (await verifyPassword(deps.password, input.password, user.passwordHash));
        if (!ok) {
          await deps.lockout.fail(
            `stepup:${user.id}`,
            LOCKOUT.threshold,
            LOCKOUT.baseMs,
            LOCKOUT.maxMs,
          );
          await repo.recordEvent({
            userId: user.id,
            kind: "step_up",
            outcome: "failed",
            ip: client.ip,
          });
          throw new AccountError("invalid_credentials", "Wrong password.");
        }
      }
      if (user.totpEnabledAt)
        await h.checkSecondFactor(user, typeof input.code === "string" ? input.code : "", client);
      await repo.markStepUp(auth.session.id, Boolean(user.totpEnabledAt));
      await repo.recordEvent({ userId: user.id, kind: "step_up", outcome: "ok", ip: client.ip });
    },

    async listSessions(auth: AuthContext) {
      return (await repo.listSessions(auth.user.id)).map((s) => ({
        id: s.id,
        createdAt: s.createdAt.toISOString(),
        lastUsedAt: s.lastUsedAt.toISOString(),
        ip: s.ip,
        userAgent: s.userAgent,
        current: s.id === auth.session.id,
      }));
    },

    async revokeSession(auth: AuthContext, sessionId: string, client: ClientInfo) {
      const s = /^[0-9a-f-]{36}$/.test(sessionId) ? await repo.findSession(sessionId) : null;
      if (!s || s.userId !== auth.user.id || s.revokedAt)
        throw new AccountError("session_not_found");
      await repo.revokeSession(s.id, "revoked_by_user");
      await h.sessionsEnded(auth.user.id, s.id);
      // The revoked session may be a thief's: an address change it asked for dies with it.
      await h.cancelPendingEmail(auth.user);
      await repo.recordEvent({
        userId: auth.user.id,
        kind: "session_revoked",
        outcome: "ok",
        ip: client.ip,
      });
    },

    async revokeAllSessions(auth: AuthContext, client: ClientInfo) {
      const n = await repo.revokeSessions(auth.user.id, "revoked_by_user");
      await h.sessionsEnded(auth.user.id, null);
      await h.cancelPendingEmail(auth.user);
      await h.endTelegramLink(auth.user, "sign_out_everywhere", client);
      await repo.recordEvent({
        userId: auth.user.id,
        kind: "sessions_revoked",
        outcome: "ok",
        ip: client.ip,
        details: { count: n },
      });
      return n;
    },

    async issueWsTicket(auth: AuthContext) {
      // Bound to the session; the WebSocket hub consumes it once (GETDEL) as the first message,
      // and closes the socket when the session ends.
      const ticket = await deps.tokens.issue(
        "ws",
        { userId: Number(auth.user.id), sessionId: auth.session.id },
        WS_TICKET_TTL_S,
      );
      return { ticket, expiresIn: WS_TICKET_TTL_S };
    },

    /** S4.4: admin powers need TOTP enrolled and verified in this session. */
    requireAdmin(auth: AuthContext) {
      if (auth.user.role !== "admin") throw new AccountError("invalid_token");
      if (!auth.user.totpEnabledAt || !auth.session.twoFactorAt)
        throw new AccountError("admin_requires_2fa");
    },
  };
}
