// Searches everything Warden stores — every PostgreSQL table and every Redis key and value
// under a prefix — for secrets that must never be there (S1.1).
import { Redis } from "ioredis";
import pg from "pg";

export interface Hit {
  where: string;
  needle: string;
}

export async function scanPostgres(url: string, needles: string[]): Promise<Hit[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const hits: Hit[] = [];
  try {
    const { rows: tables } = await client.query<{ name: string }>(
      "select quote_ident(schemaname) || '.' || quote_ident(tablename) as name from pg_tables where schemaname not in ('pg_catalog', 'information_schema')",
    );
    for (const { name } of tables) {
      for (const needle of needles) {
        const { rows } = await client.query(
          `select count(*)::int as n from ${name} t where strpos(row_to_json(t)::text, $1) > 0`,
          [needle],
        );
        if (rows[0].n > 0) hits.push({ where: `${name} (${rows[0].n} rows)`, needle });
      }
    }
  } finally {
    await client.end();
  }
  return hits;
}

export async function scanRedis(url: string, prefix: string, needles: string[]): Promise<Hit[]> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  const hits: Hit[] = [];
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        let text = key;
        if (type === "string") text += await redis.get(key);
        else if (type === "hash") text += JSON.stringify(await redis.hgetall(key));
        else if (type === "list") text += JSON.stringify(await redis.lrange(key, 0, -1));
        else if (type === "set") text += JSON.stringify(await redis.smembers(key));
        else if (type === "zset") text += JSON.stringify(await redis.zrange(key, 0, -1));
        else if (type === "stream") text += JSON.stringify(await redis.xrange(key, "-", "+"));
        for (const needle of needles) if (text.includes(needle)) hits.push({ where: key, needle });
      }
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  return hits;
}
