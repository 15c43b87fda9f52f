/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The password reset page: the token arrives in the URL fragment (never sent to a server or in a
// Referer) and is removed from the address bar at once.
import { $, setText, show } from "../shared/dom";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
history.replaceState(null, "", location.pathname);
if (!token) {
  setText("#error", "This link is incomplete. Request a new reset email.");
  show("#error", true);
  show("#reset-form", false);
}

$<HTMLFormElement>("#reset-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target as HTMLFormElement;
  const password = String(new FormData(form).get("password") ?? "");
  const res = await fetch("/api/auth/password/reset/confirm", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, password }),
  });
  const body = (await res.json().catch(() => ({}))) as { message?: string };
  form.reset();
  if (res.ok) {
    show("#reset-form", false);
    show("#error", false);
    setText("#notice", body.message ?? "Password changed.");
    show("#notice", true);
  } else {
    setText("#error", body.message ?? "The password could not be changed.");
    show("#error", true);
  }
});
