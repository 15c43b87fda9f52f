// Exchange credentials: every key, secret and private key is a Fernet token under the master
// key version recorded in the same row (S1.1); the plaintext never reaches this table.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261124100000ExchangeCredentials extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table exchange_credentials (
        id bigint generated always as identity primary key,
        user_id bigint not null,
        venue text not null check (venue in ('hyperliquid', 'binanceusdm', 'bybit', 'paper')),
        label text not null default '' check (length(label) <= 64),
        api_key text check (api_key like 'gAAAAA%'),
        secret text check (secret like 'gAAAAA%'),
        private_key text check (private_key like 'gAAAAA%'),
        wallet_address text,
        encryption_key_version integer not null check (encryption_key_version > 0),
        verified_scopes jsonb,
        warnings jsonb not null default '[]'::jsonb,
        verified_at timestamptz,
        created_at timestamptz not null default now(),
        rotated_at timestamptz,
        revoked_at timestamptz
      );
    `);
    this.addSql("create index exchange_credentials_user_idx on exchange_credentials (user_id);");
    // The start-up canary groups by version; this keeps it an index-only scan.
    this.addSql(
      "create index exchange_credentials_version_idx on exchange_credentials (encryption_key_version);",
    );
  }

  override async down(): Promise<void> {
    this.addSql("drop table if exists exchange_credentials;");
  }
}
