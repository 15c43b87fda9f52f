// A JSON client for the running service's HTTP API and a signed-in, stepped-up web account: the
// steps every API test that adds a key goes through (register, confirm from the mailed link,
// sign in, step up with the password).
import { expect } from "vitest";
import { confirmationToken } from "./email-confirmation";
import type { TestWarden } from "./warden-harness";

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
export type Json = Record<string, any>;

export type JsonApi = (
  method: string,
  path: string,
  body?: unknown,
  auth?: string,
) => Promise<{ status: number; body: Json }>;

export function jsonApi(w: () => TestWarden): JsonApi {
  return async (method, path, body, auth) => {
    const res = await fetch(`${w().base}${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        ...(auth ? { authorization: `Bearer ${auth}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
  };
}

/** Registers `email`, confirms it, signs in and steps up; returns the access token. */
export async function steppedUpAccount(
  w: TestWarden,
  email: string,
  password = "a long unique passphrase",
): Promise<string> {
  const api = jsonApi(() => w);
  expect((await api("POST", "/api/auth/register", { email, password })).status).toBe(202);
  const confirm = await api("POST", "/api/auth/email/confirm", {
    token: await confirmationToken(w.smtp, email),
  });
  expect(confirm.status).toBe(200);
  const token = (await api("POST", "/api/auth/login", { email, password })).body
    .accessToken as string;
  // Step-up is earned, never born: a fresh sign-in confirms the password once more.
  expect((await api("POST", "/api/auth/step-up", { password }, token)).status).toBe(200);
  return token;
}
