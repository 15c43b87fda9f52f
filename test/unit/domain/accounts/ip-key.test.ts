// Per-IP limits key IPv6 by /64 (issue 15): every address of one prefix counts as one.
import { describe, expect, it } from "vitest";
import { ipKeyOf } from "../../../../src/domain/accounts/shared";

describe("ipKeyOf", () => {
  it("when addresses share a /64, then they share a key; another /64 has its own", () => {
    const a = ipKeyOf("2001:db8:1:2::1");
    expect(a).toBe("2001:db8:1:2::/64");
    expect(ipKeyOf("2001:0db8:0001:0002:ffff:ffff:ffff:fffe")).toBe(a);
    expect(ipKeyOf("2001:DB8:1:2:abcd::9")).toBe(a);
    expect(ipKeyOf("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(ipKeyOf("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(ipKeyOf("::1")).toBe("0:0:0:0::/64");
    expect(ipKeyOf("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
  });

  it("when the address is IPv4 or IPv4-mapped, then it is the address itself", () => {
    expect(ipKeyOf("203.0.113.7")).toBe("203.0.113.7");
    expect(ipKeyOf("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(ipKeyOf(null)).toBe("none");
  });
});
