// The accounts composition: one module per use case (registration, sign-in, two-factor,
// sessions, linking, recovery) built on the shared helpers, gathered into the one object the
// HTTP API and the bot are given (S2–S6).
import { createEmailChange } from "./email-change";
import { createEmailConfirmation } from "./email-confirmation";
import { createLinking } from "./linking";
import { createRecovery } from "./recovery";
import { createRegistration } from "./registration";
import { createSessions } from "./sessions";
import { type AccountDeps, createAccountHelpers } from "./shared";
import { createSignIn } from "./sign-in";
import { createTwoFactor } from "./two-factor";

export function createAccountService(deps: AccountDeps) {
  const helpers = createAccountHelpers(deps);
  const linking = createLinking(helpers);
  return {
    ...createRegistration(helpers),
    ...createEmailConfirmation(helpers),
    ...createEmailChange(helpers),
    ...createSignIn(helpers, linking),
    ...createSessions(helpers),
    ...createTwoFactor(helpers),
    ...createRecovery(helpers),
    ...linking,
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
