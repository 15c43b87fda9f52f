// A local SMTP relay for tests: real SMTP on 127.0.0.1, every accepted mail parsed and kept,
// chosen recipients refused with 550 and the first sessions answered 451 on demand.
import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html?: string;
  raw: string;
}

export interface SmtpServerOptions {
  /** Recipients answered `550 5.1.1` at RCPT TO (the reply echoes the address, as relays do). */
  rejectRecipients?: string[];
  /** The first N sessions are answered `451` at connect, then the server behaves. */
  failTimes?: number;
}

export interface TestSmtpServer {
  /** `smtp://127.0.0.1:PORT` */
  url: string;
  messages: ReceivedMail[];
  /** Sessions opened so far, refused ones included. */
  connections(): number;
  waitForMessage(
    predicate: (m: ReceivedMail) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedMail>;
  close(): Promise<void>;
}

interface Waiter {
  predicate: (m: ReceivedMail) => boolean;
  resolve: (m: ReceivedMail) => void;
}

function smtpError(responseCode: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode });
}

export async function startSmtpServer(opts: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const rejected = new Set((opts.rejectRecipients ?? []).map((a) => a.toLowerCase()));
  const failTimes = opts.failTimes ?? 0;
  const messages: ReceivedMail[] = [];
  const waiters = new Set<Waiter>();
  let sessions = 0;

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ["STARTTLS", "AUTH"],
    authOptional: true,
    logger: false,
    // Pooled clients keep connections open; do not wait long for them when closing.
    closeTimeout: 500,
    onConnect(_session, callback) {
      sessions += 1;
      if (sessions <= failTimes) {
        return callback(smtpError(451, "4.3.2 Service temporarily unavailable, try again later"));
      }
      callback();
    },
    onRcptTo(address, _session, callback) {
      if (rejected.has(address.address.toLowerCase())) {
        return callback(
          smtpError(
            550,
            `5.1.1 <${address.address}>: Recipient address rejected: mailbox unavailable`,
          ),
        );
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", callback);
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((parsed) => {
            const mailFrom = session.envelope.mailFrom;
            const mail: ReceivedMail = {
              from: mailFrom === false ? "" : mailFrom.address,
              to: session.envelope.rcptTo.map((r) => r.address),
              subject: parsed.subject ?? "",
              text: parsed.text ?? "",
              html: parsed.html === false ? undefined : parsed.html,
              raw: raw.toString("utf8"),
            };
            messages.push(mail);
            for (const w of waiters) {
              if (w.predicate(mail)) {
                waiters.delete(w);
                w.resolve(mail);
              }
            }
            callback();
          })
          .catch((err: Error) => callback(err));
      });
    },
  });
  server.on("error", () => {});

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo;

  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    connections: () => sessions,
    waitForMessage(predicate, timeoutMs = 10_000) {
      const found = messages.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching mail arrived within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter: Waiter = {
          predicate,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        waiters.add(waiter);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
