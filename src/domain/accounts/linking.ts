// Telegram accounts and linking them to web accounts, both ways (S6.1, S6.3).
import { maskEmail } from "./email";
import { AccountError } from "./errors";
import type { Role, UserRecord } from "./repo";
import { type AccountHelpers, type AuthContext, LINK_CODE_TTL_S } from "./shared";

export function createLinking(h: AccountHelpers) {
  const { deps, repo } = h;

  async function linkTelegram(userId: string, telegramUserId: number) {
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
    await repo.recordEvent({ userId: target.id, kind: "telegram_linked", outcome: "ok" });
    return { user: { ...target, telegramUserId }, alreadyLinked: false };
  }

  return {
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
    async issueBotLinkCode(telegramUserId: number) {
      return deps.tokens.issue(
        "link:bot",
        { telegramUserId },
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
    confirmTelegramLink: (userId: string, telegramUserId: number) =>
      linkTelegram(userId, telegramUserId),

    async linkTelegramWithBotCode(auth: AuthContext, code: unknown) {
      h.requireStepUp(auth);
      if (typeof code !== "string") throw new AccountError("invalid_link_code");
      const payload = (await deps.tokens.consume("link:bot", code)) as {
        telegramUserId: number;
      } | null;
      if (!payload) throw new AccountError("invalid_link_code");
      return linkTelegram(auth.user.id, payload.telegramUserId);
    },
  };
}
