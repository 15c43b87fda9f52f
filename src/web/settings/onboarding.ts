/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The settings page's onboarding: create an account, reset a forgotten password, resend the
// confirmation mail (signed out); the email state, change password and link Telegram (signed
// in). main.ts hands over its API helpers; every server text is set with textContent.
import { $, ApiError, type Json, setText, show } from "../shared/dom";

export interface OnboardingDeps {
  /** An authenticated call (refresh and step-up handled). */
  api(method: string, path: string, body?: unknown): Promise<Json>;
  /** An unauthenticated call whose non-2xx answer throws ApiError. */
  post(path: string, body: unknown): Promise<Json>;
  flash(kind: "notice" | "error", text: string | null): void;
  me(): Json | null;
  /** The password change ends every session and answers a fresh one. */
  setAccessToken(token: string): void;
  reloadMe(): Promise<void>;
}

const value = (form: HTMLFormElement, name: string) =>
  String(new FormData(form).get(name) ?? "").trim();

/** The sign-in view's forms: one of sign in, create account or forgot password at a time. */
function showSignedOutForm(which: "signin" | "register" | "forgot") {
  show("#signin-form", which === "signin");
  show("#register-form", which === "register");
  show("#forgot-form", which === "forgot");
  show("#resend-form", false);
  setText("#show-register", which === "register" ? "Back to sign in" : "Create an account");
  setText("#show-forgot", which === "forgot" ? "Back to sign in" : "Forgot password?");
}

/** Offers a new confirmation mail when sign-in says the address is not confirmed yet. */
export function onSignInRefused(err: unknown, email: string) {
  if (err instanceof ApiError && err.code === "email_not_confirmed") {
    $<HTMLInputElement>("#resend-form input[name=email]").value = email;
    show("#resend-form", true);
  }
}

function bindSignedOut(deps: OnboardingDeps) {
  $("#show-register").addEventListener("click", () =>
    showSignedOutForm($("#register-form").hidden ? "register" : "signin"),
  );
  $("#show-forgot").addEventListener("click", () =>
    showSignedOutForm($("#forgot-form").hidden ? "forgot" : "signin"),
  );

  const register = $<HTMLFormElement>("#register-form");
  register.addEventListener("submit", async (e) => {
    e.preventDefault();
    const email = value(register, "email");
    const password = String(new FormData(register).get("password") ?? "");
    try {
      const r = await deps.post("/api/auth/register", { email, password });
      register.reset();
      showSignedOutForm("signin");
      $<HTMLInputElement>("#signin-form input[name=email]").value = email;
      const notice = typeof r.noticeMessage === "string" ? ` ${r.noticeMessage}` : "";
      deps.flash("notice", `${String(r.message ?? "Check your mail.")}${notice}`);
    } catch (err) {
      // The reason a password is refused (too short, breached) comes from the server as is.
      deps.flash("error", (err as Error).message);
      $<HTMLInputElement>("#register-form input[name=password]").value = "";
    }
  });

  const forgot = $<HTMLFormElement>("#forgot-form");
  forgot.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await deps.post("/api/auth/password/reset/request", {
        email: value(forgot, "email"),
      });
      forgot.reset();
      showSignedOutForm("signin");
      deps.flash("notice", String(r.message ?? "Check your mail."));
    } catch (err) {
      deps.flash("error", (err as Error).message);
    }
  });

  const resend = $<HTMLFormElement>("#resend-form");
  resend.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await deps.post("/api/auth/email/resend", { email: value(resend, "email") });
      show("#resend-form", false);
      deps.flash("notice", String(r.message ?? "Check your mail."));
    } catch (err) {
      deps.flash("error", (err as Error).message);
    }
  });
}

/** Re-draws the account section from /api/auth/me. */
export function renderAccount(me: Json | null) {
  if (!me) return;
  const email = typeof me.email === "string" ? me.email : null;
  setText(
    "#email-status",
    email === null
      ? "No email address on this account."
      : me.emailConfirmed === true
        ? `${email} is confirmed.`
        : `${email} is not confirmed yet: open the link we mailed you.`,
  );
  const pending = typeof me.pendingEmail === "string" ? me.pendingEmail : null;
  const waiting = `${pending} is waiting for confirmation: open the link we sent there.`;
  setText(
    "#email-pending",
    pending === null
      ? ""
      : email === null
        ? waiting
        : `${waiting} Until then ${email} stays in use.`,
  );
  show("#email-pending", pending !== null);
  show("#email-resend", pending !== null || (email !== null && me.emailConfirmed !== true));
  setText("#email-change-label", email === null ? "Email address" : "New email address");
  setText("#email-change-submit", email === null ? "Add address" : "Change address");
  show("#password-change-form", me.hasPassword !== false);
  show("#password-change-unavailable", me.hasPassword === false);
  const linked = me.telegramLinked === true;
  setText(
    "#telegram-status",
    linked
      ? "Telegram is linked: the bot trades and alerts for this account."
      : "Telegram is not linked yet.",
  );
  show("#telegram-link", !linked);
  if (linked) show("#telegram-code-box", false);
  const tg = (me.telegram ?? null) as Json | null;
  show("#telegram-linked", linked && tg !== null);
  if (linked && tg) {
    setText("#telegram-linked-name", String(tg.name ?? "") || "(no name)");
    setText("#telegram-linked-id", String(tg.id ?? ""));
    const at = typeof tg.linkedAt === "string" ? new Date(tg.linkedAt) : null;
    show("#telegram-linked-at-row", at !== null && !Number.isNaN(at.getTime()));
    if (at)
      setText("#telegram-linked-at", `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`);
  }
}

function bindSignedIn(deps: OnboardingDeps) {
  $("#email-resend").addEventListener("click", async () => {
    const me = deps.me();
    try {
      // A pending new address gets its link through the change route (step-up as there).
      const r =
        typeof me?.pendingEmail === "string"
          ? await deps.api("POST", "/api/auth/email/change", { email: me.pendingEmail })
          : typeof me?.email === "string"
            ? await deps.post("/api/auth/email/resend", { email: me.email })
            : null;
      if (r) deps.flash("notice", String(r.message ?? "Check your mail."));
    } catch (err) {
      deps.flash("error", (err as Error).message);
    }
  });

  const changeEmail = $<HTMLFormElement>("#email-change-form");
  changeEmail.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await deps.api("POST", "/api/auth/email/change", {
        email: value(changeEmail, "email"),
      });
      changeEmail.reset();
      await deps.reloadMe();
      deps.flash("notice", String(r.message ?? "Check your mail."));
    } catch (err) {
      deps.flash("error", (err as Error).message);
    }
  });

  const change = $<HTMLFormElement>("#password-change-form");
  change.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(change);
    try {
      const r = await deps.api("POST", "/api/auth/password/change", {
        currentPassword: String(data.get("currentPassword") ?? ""),
        newPassword: String(data.get("newPassword") ?? ""),
      });
      deps.setAccessToken(String(r.accessToken));
      deps.flash("notice", "Password changed. Every other session is signed out.");
    } catch (err) {
      deps.flash("error", (err as Error).message);
    } finally {
      change.reset();
    }
  });

  $("#telegram-code").addEventListener("click", async () => {
    try {
      const r = await deps.api("POST", "/api/auth/telegram/link-code");
      const code = String(r.code);
      setText("#telegram-start-text", `/start ${code}`);
      setText("#telegram-code-minutes", String(Math.max(1, Math.round(Number(r.expiresIn) / 60))));
      const deepLink =
        typeof r.deepLink === "string" && r.deepLink.startsWith("https://t.me/")
          ? r.deepLink
          : null;
      if (deepLink) {
        const a = $<HTMLAnchorElement>("#telegram-deep-link");
        a.href = deepLink;
        a.textContent = deepLink;
      }
      show("#telegram-deep-link-row", deepLink !== null);
      show("#telegram-code-box", true);
    } catch (err) {
      deps.flash("error", (err as Error).message);
    }
  });

  // A sensitive action: the server asks for a step-up, which deps.api handles (then retries).
  $("#telegram-unlink").addEventListener("click", async () => {
    try {
      await deps.api("DELETE", "/api/auth/telegram/link");
      await deps.reloadMe();
      deps.flash("notice", "Telegram is unlinked. Link it again with a fresh code from the bot.");
    } catch (err) {
      deps.flash("error", (err as Error).message);
    }
  });

  const link = $<HTMLFormElement>("#telegram-link-form");
  link.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await deps.api("POST", "/api/auth/telegram/link", { code: value(link, "code") });
      link.reset();
      await deps.reloadMe();
      deps.flash("notice", "Telegram is linked.");
    } catch (err) {
      deps.flash("error", (err as Error).message);
    }
  });
}

export function bindOnboarding(deps: OnboardingDeps) {
  bindSignedOut(deps);
  bindSignedIn(deps);
}

/** Back to the sign-in form (after signing out). */
export function resetSignedOutForms() {
  showSignedOutForm("signin");
}
