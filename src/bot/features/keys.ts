// /connect and /keys: choose a venue, read exactly what to tick on it, paste the key material —
// deleted from the chat at once, checked with the venue, stored encrypted or refused with the
// reason — and list, rotate or revoke keys. Key actions need a fresh 2FA code (S4.5, S1.5, S7).
import { Composer, InlineKeyboard } from "grammy";
import { AccountError } from "../../domain/accounts/errors";
import type { UserRecord } from "../../domain/accounts/repo";
import type { AccountService } from "../../domain/accounts/service";
import {
  type CredentialRecord,
  KeyNotFound,
  KeyRefused,
  VENUE_NAMES,
  venueLabel,
} from "../../domain/venues/key-records";
import type { KeyService } from "../../domain/venues/keys";
import { KeyIntakePending } from "../../domain/venues/sealed-keys";
import { VENUE_IDS, VenueError, type VenueId } from "../../domain/venues/types";
import type { BotContext } from "../context";
import type { BotVerifications, KeyAction, PendingStore } from "../pending";
import { SEND_CODE } from "../texts";
import { BOT_STEP_UP_MS } from "./two-factor";

export interface KeysFeatureDeps {
  accounts: AccountService;
  keys: KeyService;
  pending: PendingStore;
  verified: BotVerifications;
  egressIps: readonly string[];
}

export const CHECKING = "Checking with the venue…";
export const CHOOSE_VENUE = "Which venue do you want to connect?";

export function venueInstructions(venue: VenueId, egressIps: readonly string[]): string {
  const ips = egressIps.length
    ? `Restrict the key to Warden's IPs: ${egressIps.join(", ")}.`
    : "If the venue offers it, restrict the key to Warden's server IPs.";
  switch (venue) {
    case "binanceusdm":
      return [
        "On Binance: Profile → API Management → Create API (system generated).",
        "Edit restrictions and tick ONLY: “Enable Reading” and “Enable Futures”.",
        "Leave unticked: Enable Withdrawals, Enable Internal Transfer, Permits Universal Transfer, Enable Spot & Margin Trading, Enable Margin Loan, Repay & Transfer.",
        ips,
        "",
        "Then paste in ONE message: API_KEY SECRET (separated by a space or a new line). I delete your message at once.",
      ].join("\n");
    case "bybit":
      return [
        "On Bybit: Profile → API → Create New Key → System-generated → API Transaction, Read-Write.",
        "Under Contract (Derivatives) tick ONLY: Orders and Positions.",
        "Leave unticked: Wallet (Account Transfer, Subaccount Transfer, Withdrawal), Spot, Exchange, Earn, Fiat and every other section.",
        ips,
        "",
        "Then paste in ONE message: API_KEY SECRET (separated by a space or a new line). I delete your message at once.",
      ].join("\n");
    case "hyperliquid":
      return [
        "On app.hyperliquid.xyz: More → API → create an API wallet and authorize it for your account.",
        "Never paste your main wallet's private key: it can withdraw, and Warden refuses it.",
        "",
        "Then paste in ONE message: MAIN_WALLET_ADDRESS API_WALLET_PRIVATE_KEY (your main account's 0x address, then the API wallet's private key). I delete your message at once.",
      ].join("\n");
    case "paper":
      return "The paper venue needs no key.";
  }
}

/** Where a testnet key is made: each venue's own test site, with test funds only. */
export const TESTNET_SITES: Record<Exclude<VenueId, "paper">, string> = {
  binanceusdm: "testnet.binancefuture.com",
  bybit: "testnet.bybit.com",
  hyperliquid: "app.hyperliquid-testnet.xyz",
};

export function testnetInstructions(venue: VenueId, egressIps: readonly string[]): string {
  if (venue === "paper") return venueInstructions(venue, egressIps);
  return [
    `🧪 TESTNET: create the key on ${TESTNET_SITES[venue]} (test funds only), not on the live site. Warden will use it only against the ${VENUE_NAMES[venue]} testnet, and label it "testnet" everywhere.`,
    "",
    venueInstructions(venue, egressIps),
  ].join("\n");
}

export function keyLine(k: CredentialRecord): string {
  const margin = k.venue === "hyperliquid" && !k.revokedAt ? ` — ${k.marginMode} margin` : "";
  const status = k.revokedAt
    ? "revoked"
    : k.disabledAt
      ? `DISABLED: ${k.disabledReason ?? "re-verification failed"}`
      : `scopes: ${k.verifiedScopes.join(", ") || "—"}; last verified ${k.verifiedAt?.toISOString().slice(0, 16).replace("T", " ") ?? "never"} UTC`;
  const warnings = k.revokedAt ? [] : k.warnings.map((w) => `  ⚠ ${w.message}`);
  return [
    `#${k.id} ${k.testnet ? "🧪 " : ""}${venueLabel(k.venue, k.testnet)} — ${k.label} — ${k.keyHint ?? "…"}${margin} — ${status}`,
    ...warnings,
  ].join("\n");
}

export function storedMessage(k: CredentialRecord): string {
  return [
    `✅ Stored, encrypted. ${keyLine(k)}`,
    "",
    "Trade with it from here or the web API. /keys lists your keys.",
  ].join("\n");
}

export function keysFeature(deps: KeysFeatureDeps): Composer<BotContext> {
  const { accounts, keys, pending, verified } = deps;
  const feature = new Composer<BotContext>();

  const needsStepUp = async (user: UserRecord) =>
    Boolean(user.totpEnabledAt) && !(await verified.until("step_up", user.id));

  /** Runs the action now, or asks for a 2FA code first. */
  async function start(ctx: BotContext, user: UserRecord, action: KeyAction) {
    if (await needsStepUp(user)) {
      await pending.set(user.telegramUserId!, { kind: "step_up", next: action });
      await ctx.reply(`This is a sensitive action. ${SEND_CODE}`);
      return;
    }
    await proceed(ctx, user, action);
  }

  async function proceed(ctx: BotContext, user: UserRecord, action: KeyAction) {
    const chatUser = user.telegramUserId!;
    if (action.action === "margin_mode") {
      try {
        const k = await keys.setMarginMode(user.id, action.credentialId, action.mode);
        await ctx.reply(
          `Key #${k.id} (${venueLabel(k.venue, k.testnet)}) now opens positions with ${k.marginMode} margin.`,
        );
      } catch (err) {
        if (err instanceof KeyRefused) return void (await ctx.reply(err.message));
        if (!(err instanceof KeyNotFound)) throw err;
        await ctx.reply("No such active key. /keys lists your keys.");
      }
      return;
    }
    if (action.action === "revoke") {
      try {
        await keys.revoke(user.id, action.credentialId);
        await ctx.reply(
          `Key #${action.credentialId} revoked: its material is deleted. The record stays for your audit trail.`,
        );
      } catch (err) {
        if (!(err instanceof KeyNotFound)) throw err;
        await ctx.reply("No such active key. /keys lists your keys.");
      }
      return;
    }
    if (action.venue === "paper") {
      const record = await keys.connect(user.id, "paper", "Paper", {});
      await ctx.reply(storedMessage(record));
      return;
    }
    await pending.set(chatUser, {
      kind: "key_material",
      action: action.action,
      venue: action.venue,
      ...(action.action === "rotate" ? { credentialId: action.credentialId } : {}),
      ...(action.action === "connect" && action.testnet ? { testnet: true } : {}),
    });
    await ctx.reply(
      action.action === "connect" && action.testnet
        ? testnetInstructions(action.venue, deps.egressIps)
        : venueInstructions(action.venue, deps.egressIps),
    );
  }

  feature.command("connect", async (ctx) => {
    await pending.clear(ctx.from!.id);
    const kb = new InlineKeyboard();
    for (const v of VENUE_IDS) {
      kb.text(VENUE_NAMES[v], `connect:${v}`);
      // Each live venue's test network, for a first try with test funds.
      if (v !== "paper") kb.text(`🧪 ${venueLabel(v, true)}`, `connect:${v}:testnet`);
      kb.row();
    }
    await ctx.reply(CHOOSE_VENUE, { reply_markup: kb });
  });

  feature.callbackQuery(/^connect:([a-z]+)(:testnet)?$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const venue = ctx.match[1] as VenueId;
    const testnet = ctx.match[2] !== undefined;
    if (!VENUE_IDS.includes(venue) || (testnet && venue === "paper")) return;
    const { user } = await accounts.ensureTelegramAccount(ctx.from.id);
    await start(ctx, user, { action: "connect", venue, ...(testnet ? { testnet: true } : {}) });
  });

  feature.command("keys", async (ctx) => {
    const { user } = await accounts.ensureTelegramAccount(ctx.from!.id);
    const list = await keys.list(user.id);
    if (list.length === 0)
      return void (await ctx.reply("You have no keys yet. /connect adds one."));
    const kb = new InlineKeyboard();
    for (const k of list.filter((x) => !x.revokedAt)) {
      if (k.venue !== "paper") kb.text(`Rotate #${k.id}`, `keys:rotate:${k.id}`);
      kb.text(`Revoke #${k.id}`, `keys:revoke:${k.id}`).row();
    }
    await ctx.reply(["Your keys:", ...list.map(keyLine)].join("\n"), { reply_markup: kb });
  });

  feature.callbackQuery(/^keys:(rotate|revoke|revoke!):(\d{1,19})$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const [, what, id] = ctx.match;
    const { user } = await accounts.ensureTelegramAccount(ctx.from.id);
    const k = (await keys.list(user.id)).find((x) => x.id === id && !x.revokedAt);
    if (!k) return void (await ctx.reply("No such active key. /keys lists your keys."));
    if (what === "revoke") {
      await ctx.reply(
        `Revoke #${k.id} (${venueLabel(k.venue, k.testnet)}, ${k.keyHint ?? "…"})? Its key material is deleted for good.`,
        {
          reply_markup: new InlineKeyboard()
            .text("Yes, revoke", `keys:revoke!:${k.id}`)
            .text("Cancel", "keys:cancel"),
        },
      );
      return;
    }
    if (what === "revoke!") return start(ctx, user, { action: "revoke", credentialId: k.id });
    await start(ctx, user, { action: "rotate", venue: k.venue, credentialId: k.id });
  });

  // /marginmode <key> cross|isolated: the margin mode of a Hyperliquid key's orders.
  feature.command("marginmode", async (ctx) => {
    const [id, mode] = (ctx.match ?? "").trim().split(/\s+/);
    if (!id || !/^\d{1,19}$/.test(id) || (mode !== "cross" && mode !== "isolated")) {
      await ctx.reply(
        "Usage: /marginmode <key #> cross|isolated — e.g. /marginmode 3 isolated. Hyperliquid keys only; /keys shows each key's mode.",
      );
      return;
    }
    const { user } = await accounts.ensureTelegramAccount(ctx.from!.id);
    await start(ctx, user, { action: "margin_mode", credentialId: id, mode });
  });

  feature.callbackQuery("keys:cancel", async (ctx) => {
    await ctx.answerCallbackQuery({ text: "Cancelled." });
    await ctx.deleteMessage().catch(() => {});
  });

  feature.on("message:text", async (ctx, next) => {
    const state = await pending.get(ctx.from.id);
    if (
      !state ||
      (state.kind !== "step_up" && state.kind !== "key_material") ||
      ctx.message.text.startsWith("/")
    ) {
      return next();
    }
    // S1.5: whatever was pasted leaves the chat before anything else happens.
    await ctx.deleteMessage().catch(() => {});
    const { user } = await accounts.ensureTelegramAccount(ctx.from.id);

    if (state.kind === "step_up") {
      try {
        await accounts.verifyCodeForBot(user, ctx.message.text.trim());
      } catch (err) {
        if (!(err instanceof AccountError)) throw err;
        await ctx.reply(`${err.message}${err.code === "rate_limited" ? "" : `\n${SEND_CODE}`}`);
        return;
      }
      await verified.mark("step_up", user.id, BOT_STEP_UP_MS);
      await pending.clear(ctx.from.id);
      await proceed(ctx, user, state.next);
      return;
    }

    await pending.clear(ctx.from.id);
    // Split into Buffers at once; the string itself cannot be wiped, so it is dropped here.
    const parts = ctx.message.text.trim().split(/\s+/);
    const material =
      state.venue === "hyperliquid"
        ? { walletAddress: parts[0] ?? null, privateKey: parts[1] ? Buffer.from(parts[1]) : null }
        : {
            apiKey: parts[0] ? Buffer.from(parts[0]) : null,
            secret: parts[1] ? Buffer.from(parts[1]) : null,
          };
    parts.fill("");
    const checking = await ctx.reply(CHECKING);
    const edit = (text: string) => ctx.api.editMessageText(ctx.chat.id, checking.message_id, text);
    try {
      const record =
        state.action === "rotate" && state.credentialId
          ? await keys.rotate(user.id, state.credentialId, material)
          : await keys.connect(
              user.id,
              state.venue,
              venueLabel(state.venue, state.testnet === true),
              { ...material, testnet: state.testnet === true },
            );
      await edit(
        state.action === "rotate" ? `🔁 Rotated. ${keyLine(record)}` : storedMessage(record),
      );
    } catch (err) {
      if (err instanceof KeyRefused) return void (await edit(err.message));
      if (err instanceof KeyIntakePending) return void (await edit(err.message));
      if (err instanceof KeyNotFound)
        return void (await edit("That key no longer exists. /keys lists your keys."));
      if (err instanceof VenueError)
        return void (await edit(`${err.message} Nothing was stored; try /connect again.`));
      throw err;
    }
  });

  return feature;
}
