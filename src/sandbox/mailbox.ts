// /sandbox/mail: the development mailbox. Without SMTP_URL mail is written as .eml files to the
// outbox directory; this page lists them, newest first, with their links clickable, so reset,
// confirmation and alert mails can be followed offline. Development only (main.ts never mounts
// it in production), loopback clients only, like the sandbox chat.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Request, type Response, Router } from "express";
import { localOnly } from "./routes";

export interface OutboxMail {
  file: string;
  to: string;
  subject: string;
  date: string;
  text: string;
}

const decodeQuotedPrintable = (s: string) =>
  Buffer.from(
    s
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-F]{2})/g, (_m, hex: string) =>
        String.fromCharCode(Number.parseInt(hex, 16)),
      ),
    "latin1",
  ).toString("utf8");

/** The headers and the text/plain part of one .eml written by nodemailer. */
export function parseEml(file: string, raw: string): OutboxMail {
  const [head = "", ...rest] = raw.split(/\r?\n\r?\n/);
  const header = (name: string) =>
    new RegExp(`^${name}: (.*(?:\\r?\\n[ \\t].*)*)`, "mi")
      .exec(head)?.[1]
      ?.replace(/\r?\n[ \t]/g, " ") ?? "";
  const body = rest.join("\n\n");
  // The text part: after its Content-Type header, up to the next boundary.
  const part =
    /Content-Type: text\/plain[^\n]*\r?\n(?:[^\n]+\r?\n)*?\r?\n([\s\S]*?)(?:\r?\n--[^\n]+|$)/i.exec(
      body,
    );
  const partHead = part ? body.slice(0, part.index + part[0].indexOf(part[1] ?? "")) : head;
  let text = part?.[1] ?? body;
  if (/quoted-printable/i.test(partHead.split(/Content-Type: text\/plain/i).at(-1) ?? "")) {
    text = decodeQuotedPrintable(text);
  } else if (/base64/i.test(partHead.split(/Content-Type: text\/plain/i).at(-1) ?? "")) {
    text = Buffer.from(text.replace(/\s+/g, ""), "base64").toString("utf8");
  }
  return { file, to: header("To"), subject: header("Subject"), date: header("Date"), text };
}

export async function readOutbox(dir: string, limit = 50): Promise<OutboxMail[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith(".eml"));
  } catch {
    return [];
  }
  files.sort().reverse();
  const out: OutboxMail[] = [];
  for (const file of files.slice(0, limit)) {
    out.push(parseEml(file, await readFile(join(dir, file), "utf8")));
  }
  return out;
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

/** Escaped text with http(s) links of our own origin made clickable. */
function linkify(text: string, origin: string): string {
  return escapeHtml(text).replace(/https?:\/\/[^\s<>"']+/g, (url) => {
    const raw = url.replace(/&amp;/g, "&");
    return raw.startsWith(`${origin}/`) ? `<a href="${url}" rel="noreferrer">${url}</a>` : url;
  });
}

export function renderMailbox(mails: OutboxMail[], origin: string): string {
  const items = mails.length
    ? mails
        .map(
          (m) => `<article class="mail"><h2>${escapeHtml(m.subject)}</h2>
<p class="meta">To ${escapeHtml(m.to)} · ${escapeHtml(m.date)}</p>
<pre class="mail-body">${linkify(m.text, origin)}</pre></article>`,
        )
        .join("\n")
    : "<p>No mail yet. Mail Warden sends appears here (development without SMTP_URL).</p>";
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>Warden — development mailbox</title>
  <link rel="stylesheet" href="/assets/warden.css">
</head>
<body>
  <header class="bar"><span class="brand">Warden</span></header>
  <main>
    <section>
      <h1>Development mailbox</h1>
      ${items}
    </section>
  </main>
</body>
</html>
`;
}

export function createMailboxRoutes(deps: {
  outboxDir: string;
  publicUrl: string;
  publicHost: string;
}): Router {
  const router = Router();
  const origin = new URL(deps.publicUrl).origin;
  router.get(
    "/sandbox/mail",
    localOnly(deps.publicHost.toLowerCase()),
    async (_req: Request, res: Response) => {
      res.setHeader("Cache-Control", "no-store");
      res.setHeader("Referrer-Policy", "no-referrer");
      res.type("html").send(renderMailbox(await readOutbox(deps.outboxDir), origin));
    },
  );
  return router;
}
