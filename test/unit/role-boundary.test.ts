// Privilege separation (issue 19): the api and bot roles never load the code that decrypts
// exchange keys, so a compromised api or bot process holds no path to a plaintext key. The walk
// follows run-time imports only (type-only imports are erased by the compiler). The process's
// entry point, src/main.ts, loads the signer (and through it the decrypt scope) with import()
// only when it runs the signer role: its static imports, which every process loads, must not
// reach the decrypt scope either.
import { relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { reachableFrom } from "../support/module-graph";

const ROOT = resolve(import.meta.dirname, "../..");
const DECRYPT_SCOPE = resolve(ROOT, "src/domain/vault/decrypt-scope.ts");

/** The import chain from the root to the decrypt scope, or null when it is not reached. */
function chainToDecryptScope(root: string, opts: { dynamic?: boolean } = {}): string | null {
  const chain = reachableFrom([resolve(ROOT, root)], opts).get(DECRYPT_SCOPE);
  return chain ? chain.map((f) => relative(ROOT, f)).join(" → ") : null;
}

describe("role boundary: the exchange-key decrypt scope", () => {
  for (const root of ["src/roles/api.ts", "src/roles/bot.ts"]) {
    it(`when a module reachable from ${root} imports the exchange-key decrypt scope, then this fails naming the import chain`, () => {
      expect(chainToDecryptScope(root), "import chain to the decrypt scope").toBeNull();
    });
  }

  it("when a module statically imported from src/main.ts (loaded by every process, api and bot included) imports the exchange-key decrypt scope, then this fails naming the import chain", () => {
    expect(
      chainToDecryptScope("src/main.ts", { dynamic: false }),
      "static import chain from src/main.ts to the decrypt scope",
    ).toBeNull();
  });

  it("when src/main.ts's import() of the signer role is followed too, then the walk does find the decrypt scope (the static check is not vacuous)", () => {
    expect(chainToDecryptScope("src/main.ts")).toMatch(
      /^src\/main\.ts → src\/roles\/signer\.ts → .*src\/domain\/vault\/decrypt-scope\.ts$/,
    );
  });

  it("when the walk starts at the signer role, then it does find the decrypt scope (the check can fail)", () => {
    const chain = chainToDecryptScope("src/roles/signer.ts");
    expect(chain).not.toBeNull();
    expect(chain).toMatch(/^src\/roles\/signer\.ts → .*src\/domain\/vault\/decrypt-scope\.ts$/);
  });
});
