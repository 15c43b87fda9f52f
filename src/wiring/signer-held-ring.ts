// The exchange-key ring of a process that does not run the signer (issue 19): it holds no
// master key, so every use of it fails loudly. The use cases built over it (keys, trading, the
// cockpit) serve lists, stores and queries; whatever would encrypt or decrypt an exchange key
// goes to the signer (sealed intake, trade intents) and never reaches this ring.
import { generateFernetKey, parseFernetKey } from "../domain/vault/fernet";
import { type ExchangeKeyRing, KeyRing } from "../domain/vault/key-ring";

export class SignerHeldKeys extends Error {
  constructor() {
    super(
      "MASTER_KEYS is held by the signer only: this process cannot encrypt or decrypt exchange keys",
    );
    this.name = "SignerHeldKeys";
  }
}

class SignerHeldRing extends KeyRing<"master"> {
  constructor() {
    // KeyRing needs one entry: a throw-away key, never used (every method below refuses).
    super([[1, parseFernetKey(generateFernetKey())]], "master");
  }
  override has(): boolean {
    return false;
  }
  override encrypt(): never {
    throw new SignerHeldKeys();
  }
  override decrypt(): never {
    throw new SignerHeldKeys();
  }
  override rotate(): never {
    throw new SignerHeldKeys();
  }
  override rotateMany(): never {
    throw new SignerHeldKeys();
  }
  override toString(): string {
    return "KeyRing(held by the signer)";
  }
}

export function signerHeldRing(): ExchangeKeyRing {
  return new SignerHeldRing();
}
