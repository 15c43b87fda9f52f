// The CLI registry: --help generated from every area's commands, a typo answered with the
// closest command and exit 2, and no command name defined twice.
import { describe, expect, it } from "vitest";
import { COMMANDS, runCli } from "../../../src/cli";
import { closestCommand, createRegistry } from "../../../src/cli/registry";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe("CLI registry", () => {
  it("when --help is asked, then every registered command's usage and summary is listed and the exit code is 0", async () => {
    const { io, out } = capture();
    expect(await runCli(["--help"], io)).toBe(0);
    const text = out.join("\n");
    expect(text).toMatch(/^Usage: npm run cli -- <command> \[options\]/);
    for (const command of Object.values(COMMANDS)) {
      expect(text).toContain(command.usage);
      expect(text).toContain(command.summary);
    }
    expect(Object.keys(COMMANDS)).toEqual(
      expect.arrayContaining(["trading pause", "backup create", "db migrate", "worker ping"]),
    );
  });

  it("when a command is mistyped, then the closest one is suggested and the exit code is 2", async () => {
    const { io, err } = capture();
    expect(await runCli(["db", "stauts"], io)).toBe(2);
    expect(err.join("\n")).toMatch(/^Unknown command "db stauts"\. Did you mean "db status"\?/);
    const far = capture();
    expect(await runCli(["frobnicate", "now"], far.io)).toBe(2);
    expect(far.err.join("\n")).toMatch(/^Unknown command "frobnicate now"\.\n/);
    expect(closestCommand(COMMANDS, "master-key rotat")).toBe("master-key rotate");
    expect(closestCommand(COMMANDS, "trading")).toBeUndefined();
  });

  it("when two areas define the same command, then the registry refuses to build", () => {
    const c = { usage: "x y", summary: "s", run: async () => 0 };
    expect(() => createRegistry({ "x y": c }, { "x y": c })).toThrow(/defined twice/);
  });
});
