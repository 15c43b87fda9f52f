// A throwaway PostgreSQL 15 cluster with TLS on, for S9.2 tests: its own CA (openssl), a server
// certificate for DNS:localhost and IP:127.0.0.2 only (the server also listens on 127.0.0.1,
// which the certificate does not name), a second unrelated CA, and pg_hba refusing non-TLS TCP.
// Tests run as root, so initdb and pg_ctl run as the `postgres` OS user in a temp dir it owns.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./process";

const PG_BIN = process.env.TEST_PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface TlsCluster {
  port: number;
  /** The CA that signed the server certificate. */
  caFile: string;
  /** A CA that signed nothing the server holds. */
  wrongCaFile: string;
  /** postgres://postgres@HOST:PORT/DB; the certificate names localhost and 127.0.0.2 only. */
  url(host: "localhost" | "127.0.0.1" | "127.0.0.2", db?: string): string;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], asPostgres = false): string {
  const [file, argv] = asPostgres
    ? ["runuser", ["-u", "postgres", "--", cmd, ...args]]
    : [cmd, args];
  return execFileSync(file, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function makeCa(dir: string, name: string): { key: string; crt: string } {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    crt,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { key, crt };
}

export async function startTlsCluster(): Promise<TlsCluster> {
  const root = mkdtempSync(join(tmpdir(), "warden-pgtls-"));
  chmodSync(root, 0o755);
  const certs = join(root, "certs");
  run("mkdir", ["-p", certs]);
  const ca = makeCa(certs, "Warden Test DB CA");
  const wrong = makeCa(certs, "Unrelated CA");
  const serverKey = join(certs, "server.key");
  const serverCsr = join(certs, "server.csr");
  const serverCrt = join(certs, "server.crt");
  const ext = join(certs, "server.ext");
  writeFileSync(
    ext,
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n" +
      "subjectAltName=DNS:localhost,IP:127.0.0.2\n",
  );
  run("openssl", [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    serverKey,
    "-out",
    serverCsr,
    "-subj",
    "/CN=localhost",
  ]);
  run("openssl", [
    "x509",
    "-req",
    "-in",
    serverCsr,
    "-CA",
    ca.crt,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-out",
    serverCrt,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);

  const data = join(root, "data");
  run("chown", ["postgres:postgres", root]);
  run(
    join(PG_BIN, "initdb"),
    ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"],
    true,
  );
  copyFileSync(serverCrt, join(data, "server.crt"));
  copyFileSync(serverKey, join(data, "server.key"));
  run("chown", ["postgres:postgres", join(data, "server.crt"), join(data, "server.key")]);
  chmodSync(join(data, "server.key"), 0o600);
  const port = await freePort();
  writeFileSync(
    join(data, "postgresql.auto.conf"),
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1,127.0.0.2'",
      `unix_socket_directories = '${root}'`,
      "ssl = on",
      "ssl_cert_file = 'server.crt'",
      "ssl_key_file = 'server.key'",
      "fsync = off",
      "max_connections = 20",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(data, "pg_hba.conf"),
    [
      "local all all trust",
      "hostssl all all 127.0.0.0/8 trust",
      "hostnossl all all 0.0.0.0/0 reject",
      "",
    ].join("\n"),
  );
  run("chown", ["-R", "postgres:postgres", data]);
  const log = join(root, "server.log");
  run("touch", [log]);
  run("chown", ["postgres:postgres", log]);
  run(join(PG_BIN, "pg_ctl"), ["-D", data, "-l", log, "-w", "-t", "60", "start"], true);

  return {
    port,
    caFile: ca.crt,
    wrongCaFile: wrong.crt,
    url: (host, db = "postgres") => `postgres://postgres@${host}:${port}/${db}`,
    async stop() {
      try {
        run(join(PG_BIN, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"], true);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
