/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The sandbox chat: renders the emulator's private chat with the bot, live over Server-Sent
// Events (messages, edits, deletions), and sends texts and button presses as the user.
import { $, type Json, setText } from "../shared/dom";

interface Button {
  text: string;
  callback_data?: string;
  url?: string;
}
interface Entry {
  message_id: number;
  from: "bot" | "user";
  text?: string;
  caption?: string;
  photo?: { file_id: string };
  reply_markup?: { inline_keyboard?: Button[][] };
}

const params = new URLSearchParams(location.search);
function currentUser(): number {
  const fromUrl = Number(params.get("user"));
  if (Number.isSafeInteger(fromUrl) && fromUrl > 0) return fromUrl;
  const stored = Number(localStorage.getItem("sandbox-user"));
  if (Number.isSafeInteger(stored) && stored > 0) return stored;
  return newUser();
}
function newUser(): number {
  const id = 100_000 + Math.floor(Math.random() * 900_000_000);
  localStorage.setItem("sandbox-user", String(id));
  return id;
}

let user = currentUser();
let events: EventSource | null = null;
const base = () => `/sandbox/api/users/${user}`;

function render(entry: Entry): HTMLElement {
  const div = document.createElement("div");
  div.className = `msg ${entry.from}`;
  div.dataset.messageId = String(entry.message_id);
  if (entry.photo) {
    const img = document.createElement("img");
    img.src = `/sandbox/api/files/${encodeURIComponent(entry.photo.file_id)}`;
    img.alt = entry.caption ?? "photo";
    img.addEventListener("load", scrollToEnd);
    div.append(img);
  }
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = entry.text ?? entry.caption ?? "";
  div.append(text);
  const rows = entry.reply_markup?.inline_keyboard;
  if (rows && rows.length > 0) {
    const grid = document.createElement("div");
    grid.className = "buttons";
    for (const row of rows) {
      const line = document.createElement("div");
      line.className = "row";
      for (const b of row) {
        if (b.url) {
          const a = document.createElement("a");
          a.href = b.url;
          a.target = "_blank";
          a.rel = "noopener noreferrer";
          a.textContent = b.text;
          line.append(a);
        } else if (b.callback_data) {
          const data = b.callback_data;
          const btn = document.createElement("button");
          btn.type = "button";
          btn.textContent = b.text;
          btn.addEventListener("click", () => void press(entry.message_id, data));
          line.append(btn);
        }
      }
      grid.append(line);
    }
    div.append(grid);
  }
  return div;
}

function scrollToEnd() {
  const box = $("#messages");
  box.scrollTop = box.scrollHeight;
}

/** Inserts or replaces a message, keeping the chat in message_id order. */
function upsert(entry: Entry) {
  const box = $("#messages");
  const old = box.querySelector(`[data-message-id="${entry.message_id}"]`);
  const el = render(entry);
  if (old) {
    old.replaceWith(el);
    return;
  }
  const later = [...box.children].find(
    (c) => Number((c as HTMLElement).dataset.messageId) > entry.message_id,
  );
  if (later) later.before(el);
  else box.append(el);
  scrollToEnd();
}

function remove(messageId: number) {
  $("#messages").querySelector(`[data-message-id="${messageId}"]`)?.remove();
}

async function press(messageId: number, data: string) {
  await fetch(`${base()}/presses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message_id: messageId, callback_data: data }),
  });
}

async function connect() {
  events?.close();
  setText("#sandbox-user", `you: user ${user}`);
  $("#messages").replaceChildren();
  // Subscribe first, then load the history: nothing falls between the two.
  events = new EventSource(`${base()}/events`);
  events.addEventListener("message", (e) => {
    const event = JSON.parse(String(e.data)) as Json;
    if (event.type === "message" || event.type === "edit") upsert(event.entry as Entry);
    else if (event.type === "delete") remove(Number(event.message_id));
  });
  await new Promise<void>((resolve) => events?.addEventListener("open", () => resolve()));
  const { history } = (await (await fetch(`${base()}/history`)).json()) as { history: Entry[] };
  for (const entry of history) upsert(entry);
  document.body.dataset.ready = "true";
}

$<HTMLFormElement>("#composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target as HTMLFormElement;
  const text = String(new FormData(form).get("text") ?? "");
  if (!text.trim()) return;
  form.reset();
  await fetch(`${base()}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text }),
  });
});

$("#new-user").addEventListener("click", () => {
  document.body.dataset.ready = "false";
  user = newUser();
  void connect();
});

void (async () => {
  const bot = (await (await fetch("/sandbox/api/bot")).json()) as Json;
  setText("#bot-name", `talking to @${String(bot.username)}`);
  await connect();
})();
