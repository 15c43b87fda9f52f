// The user's answer to an alert: "not me" revokes every key and tells the admins; "this was me"
// records it (and taking back a "not me" needs a fresh step-up).
import type { AlertStore } from "./alerts";
import { AlertsError } from "./alerts";
import { notMeAdminText } from "./messages";

export interface NotMeDeps {
  store: AlertStore;
  /** Revokes every active exchange key of the user; returns the revoked ids. */
  revokeAllKeys: (userId: string) => Promise<string[]>;
  /** Tells every admin (Telegram and email). */
  tellAdmins: (text: string, subject: string) => Promise<void>;
  now: () => number;
}

/** "Not me": revoke every key first, then record the answer and tell the admins. */
export async function reportNotMe(
  deps: NotMeDeps,
  userId: string,
  anomalyId: string,
): Promise<{ revoked: string[] }> {
  const a = await deps.store.get(anomalyId);
  if (!a || a.userId !== userId) throw new AlertsError("not_found", "No such alert.");
  const revoked = await deps.revokeAllKeys(userId);
  await deps.store.setVerdict(anomalyId, userId, "not_me", new Date(deps.now()));
  await deps.tellAdmins(
    notMeAdminText(a, revoked),
    `Warden: user #${userId} reports alert #${a.id} was not them`,
  );
  return { revoked };
}

/**
 * "It was me". Taking back a "not me" (which revoked the keys and told the admins) is a
 * sensitive action: without a fresh step-up it is refused and the answer stays.
 */
export async function reportItWasMe(
  store: AlertStore,
  userId: string,
  anomalyId: string,
  now: () => number,
  opts: { steppedUp: boolean },
): Promise<void> {
  const at = new Date(now());
  if (await store.setVerdict(anomalyId, userId, "me", at, { keepNotMe: !opts.steppedUp })) return;
  const a = await store.get(anomalyId);
  if (a && a.userId === userId && a.verdict === "not_me") {
    throw new AlertsError(
      "reauth_required",
      'You answered "not me" to this alert: confirm it is you before changing that answer.',
    );
  }
  throw new AlertsError("not_found", "No such alert.");
}
