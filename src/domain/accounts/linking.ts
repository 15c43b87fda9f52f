// Telegram accounts and linking them to web accounts, both ways (S6.1, S6.3).
import { maskEmail, telegramLinkedEmail } from "./email";
import { AccountError } from "./errors";
import type { Role, UserRecord } from "./repo";
import { type AccountHelpers, type AuthContext, type ClientInfo, LINK_CODE_TTL_S } from "./shared";

export function createLinking(h: AccountHelpers) {
  const { deps, repo } = h;

  /** How the link was made, for the notice mail to the account's owner. */
  interface LinkNotice {
    telegramName: string;
    client: ClientInfo;
  }

  async function linkTelegram(userId: string, telegramUserId: number, notice: LinkNotice) {
    const target = await h.userOf(userId);
    if (target.telegramUserId === telegramUserId) return { user: target, alreadyLinked: true };
    // An existing link is never replaced silently (a stolen session must not re-point it).
    if (target.telegramUserId !== null) throw new AccountError("account_already_linked");
    const holder = await repo.findUserByTelegramId(telegramUserId);
    if (holder && holder.id !== target.id) {
      // A Telegram-only account made by /start that holds nothing yet gives way to the link.
      if (holder.email !== null || !(await repo.deleteEmptyTelegramAccount(holder.id))) {
        throw new AccountError("telegram_already_linked");
      }
    }
    if (!(await repo.setTelegramUser(target.id, telegramUserId)))
      throw new AccountError("telegram_already_linked");
    await repo.recordEvent({
      userId: target.id,
      kind: "telegram_linked",
      outcome: "ok",
      ip: notice.client.ip,
      // The name as Telegram gave it then: the settings page shows whom the account is linked to.
      details: { telegramUserId, telegramName: notice.telegramName.slice(0, 64) },
    });
    if (target.email) {
      await h.mail(
        target.id,
        telegramLinkedEmail({
          to: target.email,
          telegramName: notice.telegramName,
          telegramUserId,
          when: new Date(h.now()),
          ip: notice.client.ip,
          unlinkLink: `${deps.publicUrl}/settings#telegram`,
        }),
      );
    }
    return { user: { ...target, telegramUserId }, alreadyLinked: false };
  }

  return {
    /**
     * On every start: admin status follows ADMIN_TELEGRAM_IDS, promotion and demotion alike,
     * each a security event.
     */
    async syncAdminRoles() {
      const changed = await repo.syncAdminRoles(deps.adminTelegramIds);
      for (const [ids, kind] of [
        [changed.promoted, "admin_promoted"],
        [changed.demoted, "admin_demoted"],
      ] as const) {
        for (const userId of ids) {
          await repo.recordEvent({
            userId,
            kind,
            outcome: "ok",
            details: { via: "ADMIN_TELEGRAM_IDS" },
          });
        }
      }
      return changed;
    },

    /** /start: the account of this Telegram user, created on first contact (S6.1). */
    async ensureTelegramAccount(
      telegramUserId: number,
    ): Promise<{ user: UserRecord; created: boolean }> {
      const existing = await repo.findUserByTelegramId(telegramUserId);
      const role: Role = deps.adminTelegramIds.includes(telegramUserId) ? "admin" : "user";
      if (existing) {
        if (existing.role !== role && role === "admin") await repo.setRole(existing.id, role);
        return {
          user: { ...existing, role: role === "admin" ? role : existing.role },
          created: false,
        };
      }
      const user = await repo.createUser({ telegramUserId, role });
      if (user) {
        await repo.recordEvent({
          userId: user.id,
          kind: "telegram_account_created",
          outcome: "ok",
        });
        return { user, created: true };
      }
      const raced = await repo.findUserByTelegramId(telegramUserId);
      if (!raced) throw new Error("telegram account vanished during creation");
      return { user: raced, created: false };
    },

    async findByTelegramId(telegramUserId: number) {
      return repo.findUserByTelegramId(telegramUserId);
    },

    /** Web settings → bot: a one-time code the user sends to the bot (`/start CODE`). */
    async issueTelegramLinkCode(auth: AuthContext) {
      // Linking hands the account to whoever sends the code to the bot: a sensitive action.
      h.requireStepUp(auth);
      const code = await deps.tokens.issue(
        "link:web",
        { userId: auth.user.id },
        LINK_CODE_TTL_S,
        auth.user.id,
      );
      return { code, expiresIn: LINK_CODE_TTL_S };
    },

    /** Bot → web: a one-time code shown by `/link`, entered in the web settings. */
    async issueBotLinkCode(telegramUserId: number, telegramName = "") {
      return deps.tokens.issue(
        "link:bot",
        { telegramUserId, telegramName },
        LINK_CODE_TTL_S,
        String(telegramUserId),
      );
    },

    /**
     * Uses up a web link code and names the account it belongs to, so the bot can ask the user
     * to confirm before anything is linked (a tapped link alone must not hand over the chat).
     */
    async claimWebLinkCode(code: string): Promise<{ userId: string; maskedEmail: string }> {
      const payload = (await deps.tokens.consume("link:web", code)) as { userId: string } | null;
      if (!payload) throw new AccountError("invalid_link_code");
      const user = await h.userOf(payload.userId);
      return { userId: user.id, maskedEmail: user.email ? maskEmail(user.email) : "(no email)" };
    },

    /** Links `telegramUserId` to the web account the claimed code named. */
    confirmTelegramLink: (userId: string, telegramUserId: number, telegramName = "") =>
      linkTelegram(userId, telegramUserId, { telegramName, client: { ip: null } }),

    async linkTelegramWithBotCode(auth: AuthContext, code: unknown, client: ClientInfo) {
      h.requireStepUp(auth);
      if (typeof code !== "string") throw new AccountError("invalid_link_code");
      const payload = (await deps.tokens.consume("link:bot", code)) as {
        telegramUserId: number;
        telegramName?: string;
      } | null;
      if (!payload) throw new AccountError("invalid_link_code");
      return linkTelegram(auth.user.id, payload.telegramUserId, {
        telegramName: payload.telegramName ?? "",
        client,
      });
    },

    /** The web account a Telegram user is linked to, masked, or null (Telegram-only or none). */
    async linkedAccountOf(telegramUserId: number): Promise<{ maskedEmail: string } | null> {
      const user = await repo.findUserByTelegramId(telegramUserId);
      return user?.email ? { maskedEmail: maskEmail(user.email) } : null;
    },

    /** The linked Telegram account as the settings page shows it; null when none is linked. */
    async linkedTelegram(auth: AuthContext) {
      const id = auth.user.telegramUserId;
      if (id === null) return null;
      const link = await repo.telegramLinkOf(auth.user.id, id);
      // A Telegram-first account (made by /start) was never "linked": it began with the id.
      return { id, name: link?.name ?? "", linkedAt: link?.linkedAt.toISOString() ?? null };
    },

    /** Settings page / DELETE /api/auth/telegram/link: a sensitive action, needs step-up. */
    async unlinkTelegram(auth: AuthContext, client: ClientInfo) {
      h.requireStepUp(auth);
      if (!(await h.endTelegramLink(auth.user, "unlinked_on_web", client)))
        throw new AccountError("telegram_not_linked");
    },

    /** `/unlink` in the bot, after the confirm button: the Telegram user leaves the account. */
    async unlinkTelegramFromBot(telegramUserId: number) {
      const user = await repo.findUserByTelegramId(telegramUserId);
      if (!user || !(await h.endTelegramLink(user, "unlinked_in_bot", { ip: null })))
        throw new AccountError("telegram_not_linked");
    },
  };
}
