// One-time tokens in Redis: the key is SHA-256 of the token, read and deleted atomically with
// GETDEL; a per-subject pointer lets a newer token (or a password change) void older ones.
import type { Redis } from "ioredis";
import type { OneTimeTokenStore } from "../domain/accounts/ports";
import { randomToken, sha256Hex } from "../domain/accounts/tokens";

// Issue with a subject: point the subject at the new hash and delete the hash it pointed at.
const ISSUE = `
local previous = redis.call('GET', KEYS[2])
if previous then redis.call('DEL', ARGV[4] .. previous) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
return 1
`;

const VOID = `
local previous = redis.call('GET', KEYS[1])
if previous then redis.call('DEL', ARGV[1] .. previous) end
redis.call('DEL', KEYS[1])
return 1
`;

export function createOneTimeTokenStore(redis: Redis): OneTimeTokenStore {
  // ioredis adds its keyPrefix to KEYS but not to ARGV; Lua must build the same full names.
  const prefix = (redis.options.keyPrefix as string | undefined) ?? "";
  const tokenKey = (kind: string, hash: string) => `ott:${kind}:t:${hash}`;
  const subjectKey = (kind: string, subject: string) => `ott:${kind}:s:${subject}`;
  return {
    async issue(kind, payload, ttlSeconds, subject) {
      const token = randomToken(32);
      const hash = sha256Hex(token);
      const value = JSON.stringify({ payload });
      if (subject === undefined) {
        await redis.set(tokenKey(kind, hash), value, "EX", ttlSeconds);
      } else {
        await redis.eval(
          ISSUE,
          2,
          tokenKey(kind, hash),
          subjectKey(kind, subject),
          value,
          ttlSeconds,
          hash,
          `${prefix}ott:${kind}:t:`,
        );
      }
      return token;
    },
    async peek(kind, token) {
      if (typeof token !== "string" || token.length < 16 || token.length > 256) return null;
      const raw = await redis.get(tokenKey(kind, sha256Hex(token)));
      return raw === null ? null : (JSON.parse(raw) as { payload: unknown }).payload;
    },
    async consume(kind, token) {
      if (typeof token !== "string" || token.length < 16 || token.length > 256) return null;
      const raw = await redis.getdel(tokenKey(kind, sha256Hex(token)));
      if (raw === null) return null;
      return (JSON.parse(raw) as { payload: unknown }).payload;
    },
    async voidSubject(kind, subject) {
      await redis.eval(VOID, 1, subjectKey(kind, subject), `${prefix}ott:${kind}:t:`);
    },
  };
}
