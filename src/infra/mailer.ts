// Delivers one email: through the SMTP relay in SMTP_URL, or, without one (development), as an
// .eml file in a local outbox directory. Failures come out classified as permanent or transient.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import nodemailer from "nodemailer";
import type SMTPPool from "nodemailer/lib/smtp-pool";
import { type EmailMessage, maskEmailsIn } from "../domain/accounts/email";
import type { Logger } from "./logger";

export const DEFAULT_OUTBOX_DIR = ".data/outbox";

export interface Mailer {
  /**
   * `opts.key`: the same for every attempt at one message, so the Message-ID is too and a copy
   * resent after a crash between the relay's acceptance and its answer is, to the receiver, the
   * same message.
   */
  deliver(message: EmailMessage, opts?: { key?: string }): Promise<{ messageId: string }>;
  close(): Promise<void>;
}

/**
 * The relay refused this message for good (SMTP 5xx for the recipient or the content): sending
 * it again cannot succeed. Messages carry the reply code and the reply with addresses masked.
 */
export class PermanentEmailError extends Error {
  readonly code = "EMAIL_PERMANENT";
  constructor(
    message: string,
    readonly responseCode: number | undefined,
  ) {
    super(message);
    this.name = "PermanentEmailError";
  }
}

/** Delivery failed for now (relay down, timeout, 4xx): sending again later may succeed. */
export class TransientEmailError extends Error {
  readonly code = "EMAIL_TRANSIENT";
  constructor(
    message: string,
    readonly responseCode: number | undefined,
  ) {
    super(message);
    this.name = "TransientEmailError";
  }
}

export interface MailerOptions {
  /** `smtp://` or `smtps://`, with optional `user:password@`; absent → development outbox. */
  smtpUrl?: string;
  from: string;
  /** Development outbox directory; `.data/outbox` under the working directory by default. */
  outboxDir?: string;
  logger: Logger;
}

// Replies at these stages concern the relay or our credentials, not the message: every mail
// would fail the same way, so they are retried (an operator can fix the relay meanwhile)
// instead of being dropped as permanent.
const RELAY_STAGES = new Set(["CONN", "EHLO", "HELO", "LHLO", "STARTTLS", "AUTH"]);

interface SmtpErrorFields {
  code?: unknown;
  responseCode?: unknown;
  command?: unknown;
  message?: unknown;
}

/**
 * Turns whatever nodemailer threw into one of our two errors. The original is not kept as
 * `cause`: its message and `response` may echo the recipient, and BullMQ stores the failure
 * reason in Redis while the logger prints it.
 */
export function classifyMailError(err: unknown): PermanentEmailError | TransientEmailError {
  if (err instanceof PermanentEmailError || err instanceof TransientEmailError) return err;
  const e: SmtpErrorFields = typeof err === "object" && err !== null ? err : {};
  const code = typeof e.code === "string" ? e.code : undefined;
  const responseCode = typeof e.responseCode === "number" ? e.responseCode : undefined;
  const command = typeof e.command === "string" ? e.command : undefined;
  const stage = command?.split(" ")[0]?.toUpperCase() ?? "";
  const raw = typeof e.message === "string" ? e.message : String(err);
  const detail = maskEmailsIn(raw.replace(/\s+/g, " ")).slice(0, 300);
  const message = `email delivery failed${code ? ` (${code}${command ? ` at ${command}` : ""})` : ""}: ${detail}`;
  const refusedForGood =
    responseCode !== undefined &&
    responseCode >= 500 &&
    responseCode < 600 &&
    code !== "EAUTH" &&
    !RELAY_STAGES.has(stage);
  // nodemailer refuses an unusable recipient itself (code EENVELOPE, command API) before any
  // reply: no retry changes the address either.
  const unusableEnvelope = code === "EENVELOPE" && command === "API";
  if (refusedForGood || unusableEnvelope) return new PermanentEmailError(message, responseCode);
  return new TransientEmailError(message, responseCode);
}

export function createMailer(opts: MailerOptions): Mailer {
  return opts.smtpUrl === undefined
    ? createOutboxMailer(opts.from, resolve(opts.outboxDir ?? DEFAULT_OUTBOX_DIR), opts.logger)
    : createSmtpMailer(opts.smtpUrl, opts.from, opts.logger);
}

function createSmtpMailer(smtpUrl: string, from: string, logger: Logger): Mailer {
  const url = new URL(smtpUrl);
  if (url.protocol !== "smtp:" && url.protocol !== "smtps:") {
    throw new Error("SMTP_URL must start with smtp:// or smtps://");
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const options: SMTPPool.Options & { maxRequeues: number } = {
    pool: true,
    maxConnections: 5,
    host,
    port: url.port === "" ? undefined : Number(url.port),
    secure: url.protocol === "smtps:",
    auth:
      url.username === ""
        ? undefined
        : { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    // A pooled connection the relay closed while idle gets one more try on a fresh one; beyond
    // that the queue's backoff decides (nodemailer's default would requeue forever).
    maxRequeues: 1,
    logger: false,
  };
  const transport = nodemailer.createTransport(options);
  // Host and port only: the URL may carry the relay password.
  logger.info({ smtpHost: host, smtpPort: options.port ?? null }, "mail goes to the SMTP relay");
  return {
    async deliver(message, opts) {
      try {
        const info = await transport.sendMail(mailOptions(from, message, opts?.key));
        return { messageId: info.messageId };
      } catch (err) {
        throw classifyMailError(err);
      }
    },
    async close() {
      transport.close();
    },
  };
}

function createOutboxMailer(from: string, outboxDir: string, logger: Logger): Mailer {
  const transport = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    // RFC 822 lines end in CRLF; mail clients open such files as they are.
    newline: "windows",
  });
  let ready: Promise<unknown> | undefined;
  logger.info(
    { outboxDir },
    "SMTP_URL is not set: mail is not sent but written as .eml files to the outbox directory",
  );
  return {
    async deliver(message, opts) {
      try {
        // 0700: the files hold reset links and addresses.
        ready ??= mkdir(outboxDir, { recursive: true, mode: 0o700 });
        await ready;
        const info = await transport.sendMail(mailOptions(from, message, opts?.key));
        const eml = info.message;
        if (!Buffer.isBuffer(eml)) throw new Error("stream transport did not return a buffer");
        const stamp = new Date().toISOString().replace(/[:.]/g, "-");
        const file = join(outboxDir, `${stamp}-${randomBytes(4).toString("hex")}.eml`);
        try {
          await writeFile(file, eml, { mode: 0o600, flag: "wx" });
        } finally {
          eml.fill(0);
        }
        return { messageId: info.messageId };
      } catch (err) {
        ready = undefined;
        throw classifyMailError(err);
      }
    },
    async close() {
      transport.close();
    },
  };
}

function mailOptions(from: string, message: EmailMessage, key?: string) {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? "localhost";
  return {
    from,
    ...(key ? { messageId: `<${key}@${domain}>` } : {}),
    to: message.to,
    subject: message.subject,
    text: message.text,
    html: message.html,
    // Our bodies are strings; never let a value be read as a file path or fetched URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}
