/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The email confirmation page: the token arrives in the URL fragment (never sent to a server or
// in a Referer), is removed from the address bar at once, and is posted when the owner presses
// the button (a link scanner fetching the page confirms nothing).
import { $, setText, show } from "../shared/dom";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
history.replaceState(null, "", location.pathname);
if (!token) {
  setText("#error", "This link is incomplete. Sign in and ask for a new confirmation email.");
  show("#error", true);
  show("#confirm-form", false);
}

$<HTMLFormElement>("#confirm-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await fetch("/api/auth/email/confirm", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  show("#confirm-form", false);
  if (res.ok) {
    show("#error", false);
    setText("#notice", `${body.message ?? "Email address confirmed."} You can sign in now.`);
    show("#notice", true);
  } else {
    setText("#error", body.message ?? "The address could not be confirmed.");
    show("#error", true);
  }
});
