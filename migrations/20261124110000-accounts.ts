// Accounts: users (password hash, role, Telegram identity, vault-encrypted TOTP secret),
// single-use backup codes, sessions with rotating refresh tokens, and security events (S2–S5, S8.2).
import { Migration } from "@mikro-orm/migrations";

export class Migration20261124110000Accounts extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table users (
        id bigint generated always as identity primary key,
        email text check (email is null or (length(email) between 3 and 254 and email = lower(email))),
        password_hash text check (password_hash is null or password_hash like '$2b$%'),
        role text not null default 'user' check (role in ('user', 'admin')),
        telegram_user_id bigint unique,
        totp_secret text check (totp_secret like 'gAAAAA%'),
        totp_key_version integer check (totp_key_version > 0),
        totp_enabled_at timestamptz,
        totp_last_step bigint,
        tokens_valid_after timestamptz not null default 'epoch',
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        check ((totp_secret is null) = (totp_key_version is null)),
        check (totp_enabled_at is null or totp_secret is not null),
        check (email is not null or telegram_user_id is not null),
        check ((email is null) = (password_hash is null))
      );
    `);
    this.addSql("create unique index users_email_idx on users (email);");
    this.addSql("create index users_totp_key_version_idx on users (totp_key_version);");
    this.addSql(`
      create table backup_codes (
        user_id bigint not null references users (id) on delete cascade,
        idx smallint not null check (idx between 0 and 19),
        hash text not null,
        used_at timestamptz,
        primary key (user_id, idx)
      );
    `);
    this.addSql(`
      create table sessions (
        id uuid primary key default gen_random_uuid(),
        user_id bigint not null references users (id) on delete cascade,
        created_at timestamptz not null default now(),
        last_used_at timestamptz not null default now(),
        ip inet,
        user_agent text check (length(user_agent) <= 512),
        two_factor_at timestamptz,
        step_up_at timestamptz,
        revoked_at timestamptz,
        revoked_reason text
      );
    `);
    this.addSql("create index sessions_user_idx on sessions (user_id) where revoked_at is null;");
    this.addSql(`
      create table refresh_tokens (
        hash text primary key check (length(hash) = 64),
        session_id uuid not null references sessions (id) on delete cascade,
        created_at timestamptz not null default now(),
        expires_at timestamptz not null,
        used_at timestamptz
      );
    `);
    this.addSql("create index refresh_tokens_session_idx on refresh_tokens (session_id);");
    this.addSql(`
      create table security_events (
        id bigint generated always as identity primary key,
        occurred_at timestamptz not null default now(),
        user_id bigint references users (id) on delete set null,
        kind text not null,
        outcome text not null check (outcome in ('ok', 'failed', 'refused', 'detected')),
        ip inet,
        details jsonb not null default '{}'::jsonb
      );
    `);
    this.addSql(
      "create index security_events_user_idx on security_events (user_id, occurred_at desc);",
    );
    this.addSql(`
      alter table exchange_credentials
        add constraint exchange_credentials_user_fk
        foreign key (user_id) references users (id) on delete cascade;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(
      "alter table exchange_credentials drop constraint if exists exchange_credentials_user_fk;",
    );
    this.addSql(
      "drop table if exists security_events, refresh_tokens, sessions, backup_codes, users;",
    );
  }
}
