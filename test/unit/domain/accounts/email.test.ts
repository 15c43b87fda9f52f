// Account email templates: exact subjects, the reset link and its rules, escaping of anything a
// user controls, and the recipient checks and masking used by the mail pipeline.
import { describe, expect, it } from "vitest";
import {
  assertEmailAddress,
  backupCodeUsedEmail,
  emailChangingEmail,
  emailInUseEmail,
  escapeHtml,
  InvalidEmailAddress,
  maskEmail,
  maskEmailsIn,
  newLoginEmail,
  resetPasswordEmail,
  twoFactorChangedEmail,
} from "../../../../src/domain/accounts/email";

const TO = "alice@example.com";
const WHEN = new Date("2026-03-01T14:05:09.123Z");
const LINK = "https://warden.example/reset?t=Zm9vYmFyYmF6cXV4cXV1eHh5eg";

describe("account email templates", () => {
  it("when a reset mail is made, then it has the exact subject, the link in text and HTML, and says once, how long, and to ignore it", () => {
    const mail = resetPasswordEmail({ to: TO, link: LINK, expiresMinutes: 30 });
    expect(mail.to).toBe(TO);
    expect(mail.subject).toBe("Reset your Warden password");
    expect(mail.text).toContain(`\n\n${LINK}\n\n`);
    expect(mail.text).toContain("The link works once and only for the next 30 minutes.");
    expect(mail.text).toContain(
      "If you did not ask for this, ignore this email: your password stays as it is.",
    );
    expect(mail.html).toContain(`<a href="${LINK}">${LINK}</a>`);
    expect(mail.html).toContain("works once");
  });

  it("when the reset link expires in one minute, then the text says 1 minute", () => {
    const mail = resetPasswordEmail({ to: TO, link: LINK, expiresMinutes: 1 });
    expect(mail.text).toContain("for the next 1 minute.");
  });

  it("when the reset link is not http(s) or the lifetime is not a positive integer, then no mail is made", () => {
    expect(() =>
      resetPasswordEmail({ to: TO, link: "javascript:alert(1)", expiresMinutes: 30 }),
    ).toThrow("reset link must be an http(s) URL");
    expect(() => resetPasswordEmail({ to: TO, link: LINK, expiresMinutes: 0 })).toThrow(
      "expiresMinutes must be a positive integer",
    );
  });

  it("when a link contains HTML metacharacters, then the href and the text of the anchor are escaped", () => {
    const mail = resetPasswordEmail({ to: TO, link: `${LINK}&x="><b>`, expiresMinutes: 30 });
    expect(mail.html).toContain(`href="${LINK}&amp;x=&quot;&gt;&lt;b&gt;"`);
    expect(mail.html).not.toContain('"><b>');
  });

  it("when a new-login mail carries a hostile user agent, then the HTML escapes it and the text keeps it on one line", () => {
    const hostile = '<script>alert("x")</script>\r\n\r\nClick https://evil.example now';
    const mail = newLoginEmail({ to: TO, when: WHEN, ip: "203.0.113.7", userAgent: hostile });
    expect(mail.subject).toBe("New sign-in to your Warden account");
    expect(mail.html).not.toContain("<script>");
    expect(mail.html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(mail.text).toContain(
      'Device: <script>alert("x")</script> Click https://evil.example now\n',
    );
    expect(mail.text).toContain("When: 2026-03-01 14:05 UTC");
    expect(mail.text).toContain("IP address: 203.0.113.7");
    expect(mail.text).toContain("change your password now");
  });

  it("when a user agent is very long, then it is cut to 200 characters", () => {
    const mail = newLoginEmail({ to: TO, when: WHEN, ip: "::1", userAgent: "A".repeat(5000) });
    const device = /Device: (.*)\n/.exec(mail.text)?.[1] ?? "";
    expect(Array.from(device)).toHaveLength(200);
    expect(device.endsWith("…")).toBe(true);
  });

  it("when two-factor changes, then each change has its exact subject and a next step", () => {
    const on = twoFactorChangedEmail({ to: TO, change: "enabled", when: WHEN });
    const off = twoFactorChangedEmail({ to: TO, change: "disabled", when: WHEN });
    const codes = twoFactorChangedEmail({ to: TO, change: "backup_codes_regenerated", when: WHEN });
    expect(on.subject).toBe("Two-factor authentication is on");
    expect(off.subject).toBe("Two-factor authentication is off");
    expect(codes.subject).toBe("New backup codes for your Warden account");
    for (const mail of [on, off, codes]) {
      expect(mail.text).toContain("2026-03-01 14:05 UTC");
      expect(mail.text).toContain("If this was not you, reset your password now.");
    }
    expect(codes.text).toContain("Your old backup codes no longer work.");
  });

  it("when a backup code is used, then the mail says how many are left and urges new ones when few remain", () => {
    const many = backupCodeUsedEmail({ to: TO, remaining: 9, when: WHEN });
    expect(many.subject).toBe("A backup code was used on your Warden account");
    expect(many.text).toContain("You have 9 backup codes left.");
    expect(many.text).not.toContain("Create new ones soon");
    expect(backupCodeUsedEmail({ to: TO, remaining: 1, when: WHEN }).text).toContain(
      "You have 1 backup code left. Create new ones soon",
    );
    expect(backupCodeUsedEmail({ to: TO, remaining: 0, when: WHEN }).text).toContain(
      "You have no backup codes left.",
    );
  });
});

describe("recipients", () => {
  it("when the recipient is a list, carries a display name or a line break, then no mail is made and the value is not echoed", () => {
    for (const to of [
      "alice@example.com, mallory@evil.example",
      "Alice <alice@example.com>",
      "alice@example.com\r\nBcc: mallory@evil.example",
      "alice",
      "",
    ]) {
      expect(() => resetPasswordEmail({ to, link: LINK, expiresMinutes: 30 })).toThrow(
        InvalidEmailAddress,
      );
    }
    expect(() => assertEmailAddress("secret.person@example.com, x@y.z")).toThrow(
      /^not a single plain email address$/,
    );
  });

  it("when an address is masked, then only its first character and domain remain", () => {
    expect(maskEmail("alice@example.com")).toBe("a***@example.com");
    expect(maskEmail("élodie@exemple.fr")).toBe("é***@exemple.fr");
    expect(maskEmail("not-an-address")).toBe("***");
    expect(maskEmailsIn("550 5.1.1 <bob.smith@example.org>: rejected")).toBe(
      "550 5.1.1 <b***@example.org>: rejected",
    );
  });

  it("when text is escaped for HTML, then all five metacharacters are replaced", () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
  });

  it("when an address change is asked for, then the old address is told with the new one masked, that it stays in use until then, and how to cancel", () => {
    const m = emailChangingEmail({ to: TO, newAddress: maskEmail("bob@example.net"), when: WHEN });
    expect(m.subject).toBe("The email address of your Warden account is changing");
    expect(m.to).toBe(TO);
    expect(m.text).toContain("to use b***@example.net as its email address");
    expect(m.text).not.toContain("bob@");
    expect(m.text).toContain("2026-03-01 14:05 UTC");
    expect(m.text).toContain("This address stays in use until the new one is confirmed");
    expect(m.text).toContain("reset your password now: a reset cancels the change");
  });

  it("when an address that has an account is asked for by another, then its owner is told nothing changed", () => {
    const m = emailInUseEmail({ to: TO });
    expect(m.subject).toBe("Someone asked to move a Warden account to your address");
    expect(m.text).toContain("so nothing changed");
  });
});
