// Which processes trade through the signer (issue 19): api and bot send every venue call as an
// intent when their process does not run the signer role, as they seal pasted keys to it; a
// process running neither api nor bot never does.
import { describe, expect, it } from "vitest";
import { tradingModeFor } from "../../../src/roles/services";

describe("trading mode per process", () => {
  it("when a process runs api or bot without the signer role, then it sends intents to the signer", () => {
    expect(tradingModeFor(["api"])).toBe("remote");
    expect(tradingModeFor(["bot"])).toBe("remote");
    expect(tradingModeFor(["api", "bot", "worker"])).toBe("remote");
  });

  it("when the process runs the signer role too, or neither api nor bot, then it trades directly", () => {
    expect(tradingModeFor(["api", "bot", "worker", "signer"])).toBe("direct");
    expect(tradingModeFor(["api", "signer"])).toBe("direct");
    expect(tradingModeFor(["worker"])).toBe("direct");
    expect(tradingModeFor(["signer"])).toBe("direct");
  });
});
