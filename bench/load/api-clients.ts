// An HTTP client of the load harness: signs in, then opens and closes paper trades in rounds
// (each open with an Idempotency-Key, retried with the same key when the answer is unclear),
// refreshes its session through the cookie, and lists its trades and positions.
import { randomBytes } from "node:crypto";
import type { Latencies } from "./latencies";

export interface ApiClientScript {
  rounds: number;
}

interface Ack {
  tradeId: string;
  user: string;
}

// biome-ignore lint/suspicious/noExplicitAny: answers are JSON the client reads a few fields of
type Json = Record<string, any>;

export function createApiClient(
  base: string,
  /** PUBLIC_URL: the Origin Warden's own pages send (refresh is allowed from it only). */
  origin: string,
  email: string,
  password: string,
  script: ApiClientScript,
  lat: Latencies,
  acks: { opens: Ack[]; closes: Ack[] },
  errors: string[],
) {
  let token = "";
  let cookie = "";
  const call = async (
    label: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const t0 = performance.now();
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        "content-type": "application/json",
        origin,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    lat.add(label, performance.now() - t0);
    const setCookie = res.headers.get("set-cookie");
    if (setCookie) cookie = setCookie.split(";")[0] ?? cookie;
    let json: Json = {};
    try {
      json = text ? (JSON.parse(text) as Json) : {};
    } catch {
      json = { raw: text.slice(0, 200) };
    }
    return { status: res.status, body: json };
  };
  const expectStatus = (what: string, r: { status: number; body: Json }, ...ok: number[]) => {
    if (!ok.includes(r.status)) {
      throw new Error(`${what} answered ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    }
  };
  return {
    async run(deadline: number): Promise<void> {
      try {
        const login = await call("api login", "POST", "/api/auth/login", { email, password });
        expectStatus("login", login, 200);
        token = login.body.accessToken as string;
        // Connecting a key is a sensitive action: the session steps up with its password first.
        expectStatus(
          "step-up",
          await call("api step-up", "POST", "/api/auth/step-up", { password }),
          200,
        );
        const key = await call("api keys", "POST", "/api/keys", { venue: "paper" });
        expectStatus("paper key", key, 201, 200);
        const keyId = key.body.key.id as string;
        for (let round = 0; round < script.rounds && Date.now() < deadline; round++) {
          const idem = `load-${randomBytes(8).toString("hex")}`;
          let opened: Json | undefined;
          for (let attempt = 0; attempt < 5 && !opened; attempt++) {
            const r = await call(
              "api open",
              "POST",
              "/api/trades",
              { symbol: "BTC", side: "long", size: 0.01, keyId, confirm: true },
              { "idempotency-key": idem },
            );
            if (r.status === 201 || r.status === 200) opened = r.body.trade as Json;
            else if (r.status !== 503 && r.status !== 409) expectStatus("open", r, 201);
            else await new Promise((res) => setTimeout(res, 200));
          }
          if (!opened) throw new Error("open never acknowledged");
          acks.opens.push({ tradeId: String(opened.id), user: email });
          expectStatus("positions", await call("api positions", "GET", "/api/positions"), 200);
          const closed = await call("api close", "POST", `/api/trades/${opened.id}/close`);
          expectStatus("close", closed, 200);
          acks.closes.push({ tradeId: String(opened.id), user: email });
          expectStatus("trades", await call("api trades", "GET", "/api/trades?limit=20"), 200);
          const saved = token;
          token = "";
          const refreshed = await call("api refresh", "POST", "/api/auth/refresh", undefined, {
            cookie,
          });
          token = saved;
          expectStatus("refresh", refreshed, 200);
          token = refreshed.body.accessToken as string;
        }
      } catch (err) {
        errors.push(`${email}: ${(err as Error).message}`);
      }
    },
  };
}
