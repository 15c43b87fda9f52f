// POST /api/csp-report on its own Express app: both report formats are parsed into the fields
// worth logging (attacker-sized strings cut), and a flood is capped per minute and summed up.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cspReportRoutes, parseCspReports } from "../../../src/api/security-headers";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber } from "../../../src/infra/scrub";
import { captureLogs } from "../../support/log-capture";

const logs = captureLogs();
let clock = 1_000 * 60_000;
let server: Server;
let base: string;

beforeAll(async () => {
  const logger = createLogger({
    level: "info",
    pretty: false,
    scrubber: createScrubber(),
    destination: logs.stream,
  });
  const app = express();
  app.use("/api/csp-report", cspReportRoutes({ logger, maxPerMinute: 3, now: () => clock }));
  server = await new Promise<Server>((r) => {
    const s = app.listen(0, "127.0.0.1", () => r(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const entries = () => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
const report = (blocked: string) =>
  fetch(`${base}/api/csp-report`, {
    method: "POST",
    headers: { "content-type": "application/csp-report" },
    body: JSON.stringify({
      "csp-report": { "blocked-uri": blocked, "effective-directive": "img-src" },
    }),
  });

describe("CSP report parsing", () => {
  it("when a report has overlong or odd fields, then strings are cut to 512 characters and non-strings dropped", () => {
    const [v] = parseCspReports({
      "csp-report": {
        "document-uri": "x".repeat(5_000),
        "blocked-uri": { nested: true },
        "line-number": 12,
        "effective-directive": "script-src-elem",
      },
    });
    expect(v).toEqual({
      documentUri: "x".repeat(512),
      effectiveDirective: "script-src-elem",
      blockedUri: null,
      sourceFile: null,
      lineNumber: 12,
      disposition: null,
    });
  });

  it("when a body is neither format, then nothing is parsed", () => {
    expect(parseCspReports({ hello: "world" })).toEqual([]);
    expect(parseCspReports([{ type: "intervention", body: {} }, null, 3])).toEqual([]);
  });
});

describe("CSP report flood", () => {
  it("when more reports arrive in a minute than the cap, then only the cap is logged and the rest are summed up next minute", async () => {
    for (let i = 0; i < 5; i++) expect((await report(`https://x.example/${i}`)).status).toBe(204);
    const logged = () => entries().filter((e) => e.msg === "csp violation reported");
    expect(logged()).toHaveLength(3);
    clock += 60_000;
    expect((await report("https://x.example/next")).status).toBe(204);
    expect(entries().find((e) => e.msg === "csp violation reports dropped (flood)")).toMatchObject({
      dropped: 2,
    });
    expect(logged()).toHaveLength(4);
  });
});
