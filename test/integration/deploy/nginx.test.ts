// deploy/nginx/warden.conf, run by Debian's nginx as a child process with its own prefix, in
// front of the real Express app (createApi with TRUSTED_PROXIES=127.0.0.1) and a WebSocket
// endpoint at /ws; curl --http2 and a WebSocket client are the clients.
import { execFile, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { createApi } from "../../../src/api/app";
import { createLogger } from "../../../src/infra/logger";
import { createScrubber } from "../../../src/infra/scrub";
import { freePort, REPO_ROOT } from "../../support/process";

const HOST = "warden.example.com";
const HSTS = "max-age=63072000; includeSubDomains; preload";

let dir: string;
let nginx: ReturnType<typeof spawn>;
let nginxExit: Promise<number | null>;
let upstream: Server;
let httpsPort: number;
let httpPort: number;
let caFile: string;

/** Replaces `from` in the configuration, insisting it occurs exactly `times` times. */
function replaceExactly(text: string, from: string, to: string, times = 1): string {
  const found = text.split(from).length - 1;
  if (found !== times)
    throw new Error(`expected "${from}" ${times}× in warden.conf, found ${found}`);
  return text.split(from).join(to);
}

async function waitForPort(port: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        res(true);
      });
      s.once("error", () => res(false));
    });
    if (ok) return;
    const exited = await Promise.race([
      nginxExit,
      new Promise((r) => setTimeout(() => r("running"), 50)),
    ]);
    if (exited !== "running") {
      throw new Error(`nginx exited: ${readFileSync(join(dir, "error.log"), "utf8")}`);
    }
  }
}

async function curl(args: string[]): Promise<{ stdout: string; headers: string }> {
  const headerFile = join(dir, `headers-${Math.random().toString(36).slice(2)}`);
  const { stdout } = await promisify(execFile)("curl", [
    "-sS",
    "--cacert",
    caFile,
    "--resolve",
    `${HOST}:${httpsPort}:127.0.0.1`,
    "--resolve",
    `${HOST}:${httpPort}:127.0.0.1`,
    "-D",
    headerFile,
    ...args,
  ]);
  return { stdout, headers: readFileSync(headerFile, "utf8") };
}

const headerValues = (headers: string, name: string): string[] =>
  headers
    .split(/\r?\n/)
    .filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((l) => l.slice(name.length + 1).trim());

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "warden-nginx-"));
  execFileSync("chmod", ["0755", dir]);
  // A certificate for the host name and 127.0.0.1, which the clients verify (no -k).
  caFile = join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      caFile,
      "-days",
      "2",
      "-subj",
      `/CN=${HOST}`,
      "-addext",
      `subjectAltName=DNS:${HOST},IP:127.0.0.1`,
    ],
    { stdio: "ignore" },
  );

  // Upstream: the real Express app behind TRUSTED_PROXIES=127.0.0.1, reporting what it saw,
  // and sending an HSTS header of its own that nginx must replace.
  const echo = express.Router();
  echo.get("/echo", (req, res) => {
    res.setHeader("Strict-Transport-Security", "max-age=1");
    res.json({
      ip: req.ip,
      forwardedFor: req.get("x-forwarded-for") ?? null,
      protocol: req.protocol,
      host: req.hostname,
    });
  });
  const app = createApi({
    logger: createLogger({ level: "silent", pretty: false, scrubber: createScrubber() }),
    readiness: {},
    trustedProxies: ["127.0.0.1"],
    routes: [{ path: "/api", router: echo }],
  });
  upstream = await new Promise<Server>((res) => {
    const s = app.listen(0, "127.0.0.1", () => res(s));
  });
  const wss = new WebSocketServer({ server: upstream, path: "/ws" });
  wss.on("connection", (socket, req) => {
    socket.on("message", (data) =>
      socket.send(`echo:${data.toString()} via ${req.headers["x-forwarded-proto"]}`),
    );
  });
  const upstreamPort = (upstream.address() as { port: number }).port;

  httpsPort = await freePort();
  httpPort = await freePort();
  let site = readFileSync(join(REPO_ROOT, "deploy/nginx/warden.conf"), "utf8");
  site = replaceExactly(site, "server 127.0.0.1:3000;", `server 127.0.0.1:${upstreamPort};`);
  site = replaceExactly(site, "listen 443 ssl http2;", `listen 127.0.0.1:${httpsPort} ssl http2;`);
  site = replaceExactly(site, "listen [::]:443 ssl http2;", "");
  site = replaceExactly(site, "listen 80;", `listen 127.0.0.1:${httpPort};`);
  site = replaceExactly(site, "listen [::]:80;", "");
  site = replaceExactly(site, "/etc/ssl/warden/fullchain.pem", caFile);
  site = replaceExactly(site, "/etc/ssl/warden/privkey.pem", join(dir, "key.pem"));
  site = replaceExactly(site, "/var/www/acme", join(dir, "acme"));
  writeFileSync(join(dir, "warden.conf"), site);
  writeFileSync(
    join(dir, "nginx.conf"),
    [
      "worker_processes 1;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "error.log")} warn;`,
      "events { worker_connections 64; }",
      "http {",
      `  access_log ${join(dir, "access.log")};`,
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(
        (t) => `  ${t}_temp_path ${join(dir, `${t}_temp`)};`,
      ),
      `  include ${join(dir, "warden.conf")};`,
      "}",
      "",
    ].join("\n"),
  );
  nginx = spawn(
    "nginx",
    ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log"), "-g", "daemon off;"],
    { stdio: "ignore" },
  );
  nginxExit = new Promise((res) => nginx.once("exit", (code) => res(code)));
  await waitForPort(httpsPort);
});

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    nginx.kill("SIGQUIT");
    await nginxExit;
  }
  await new Promise<void>((res) => (upstream ? upstream.close(() => res()) : res()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("nginx in front of the API (deploy/nginx/warden.conf)", () => {
  it("when a client asks over HTTP/2, then nginx answers 200 over HTTP/2 with exactly one HSTS header, its own", async () => {
    const { stdout, headers } = await curl([
      "--http2",
      "-w",
      "\n%{http_version} %{http_code}",
      `https://${HOST}:${httpsPort}/api/echo`,
    ]);
    expect(stdout.split("\n").at(-1)).toBe("2 200");
    expect(headers.split(/\r?\n/)[0]).toMatch(/^HTTP\/2 200/);
    expect(headerValues(headers, "strict-transport-security")).toEqual([HSTS]);
    const seen = JSON.parse(stdout.split("\n")[0] ?? "") as { protocol: string; host: string };
    expect(seen).toMatchObject({ protocol: "https", host: HOST });
  });

  it("when a client sends its own X-Forwarded-For, then the upstream gets it with the socket address appended and believes only that address", async () => {
    // The client connects from 127.0.0.2, nginx (the trusted proxy) from 127.0.0.1.
    const { stdout } = await curl([
      "--http2",
      "--interface",
      "127.0.0.2",
      "-H",
      "X-Forwarded-For: 203.0.113.7",
      `https://${HOST}:${httpsPort}/api/echo`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({
      forwardedFor: "203.0.113.7, 127.0.0.2",
      ip: "127.0.0.2",
    });
  });

  it("when a WebSocket upgrade is requested on /ws, then it passes through to the upstream", async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${httpsPort}/ws`, {
      ca: readFileSync(caFile),
      headers: { Host: HOST },
    });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once("open", () => ws.send("ping"));
      ws.once("message", (data) => resolve(data.toString()));
      ws.once("error", reject);
    });
    ws.close();
    expect(reply).toBe("echo:ping via https");
  });

  it("when a client uses plain HTTP, then it is redirected to https without reaching the API", async () => {
    const { headers } = await curl([`http://${HOST}:${httpPort}/api/echo?x=1`]);
    expect(headers.split(/\r?\n/)[0]).toMatch(/^HTTP\/1\.1 301/);
    expect(headerValues(headers, "location")).toEqual([`https://${HOST}/api/echo?x=1`]);
  });
});
