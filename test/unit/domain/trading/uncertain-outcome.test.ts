// The lookup of an order whose answer was lost: when it decides, when it keeps asking, and the
// client order id a retried request carries.
import { describe, expect, it } from "vitest";
import {
  clientOrderIdFor,
  outcomeUnknown,
  settleOrder,
} from "../../../../src/domain/trading/uncertain-outcome";
import { type OrderLookup, VenueError } from "../../../../src/domain/venues/types";

const noSleep = async () => {};
const fill = { orderId: "1", symbol: "BTC/USDT:USDT", side: "long" as const, size: 1, price: 2 };

function answers(...list: Array<OrderLookup | Error>) {
  let i = 0;
  return async () => {
    const next = list[Math.min(i++, list.length - 1)]!;
    if (next instanceof Error) throw next;
    return next;
  };
}

describe("settleOrder", () => {
  it("when the venue first cannot be reached and then reports the order filled, then the fill is the answer", async () => {
    const found = await settleOrder(
      answers(new VenueError("network", "down"), { status: "pending" }, { status: "filled", fill }),
      { sleep: noSleep },
    );
    expect(found).toEqual({ status: "filled", fill });
  });

  it("when the venue says 'not found' once and then finds it, then the order counts as placed (a request in flight arrives late)", async () => {
    const found = await settleOrder(answers({ status: "not_found" }, { status: "filled", fill }), {
      sleep: noSleep,
    });
    expect(found?.status).toBe("filled");
  });

  it("when the venue says 'not found' twice in a row, then it was never placed", async () => {
    expect(
      await settleOrder(answers({ status: "not_found" }, { status: "not_found" }), {
        sleep: noSleep,
      }),
    ).toEqual({ status: "not_found" });
  });

  it("when the venue never gives a final answer, then null: the outcome stays unknown", async () => {
    expect(
      await settleOrder(answers(new VenueError("network", "down")), {
        sleep: noSleep,
        delaysMs: [1, 1, 1],
      }),
    ).toBeNull();
  });

  it("when the lookup itself is refused (not retryable), then that error is thrown", async () => {
    await expect(
      settleOrder(answers(new VenueError("invalid_key", "revoked")), { sleep: noSleep }),
    ).rejects.toThrow("revoked");
  });
});

describe("client order ids and unknown outcomes", () => {
  it("when the same request is retried, then it carries the same 32-hex id; another key or request, another id", () => {
    const a = clientOrderIdFor("7", "api:k1");
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(clientOrderIdFor("7", "api:k1")).toBe(a);
    expect(clientOrderIdFor("8", "api:k1")).not.toBe(a);
    expect(clientOrderIdFor("7", "api:k2")).not.toBe(a);
    expect(clientOrderIdFor("7", undefined)).not.toBe(clientOrderIdFor("7", undefined));
  });

  it("when the answer was lost (network), then the outcome is unknown; a refusal with a reason is not", () => {
    expect(outcomeUnknown(new VenueError("network", "timeout"))).toBe(true);
    expect(outcomeUnknown(new VenueError("invalid_order", "-2022"))).toBe(false);
    expect(outcomeUnknown(new Error("x"))).toBe(false);
  });
});
