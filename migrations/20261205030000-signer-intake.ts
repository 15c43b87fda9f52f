// Sealed intake (issue 19): the signer publishes the public halves of SIGNER_INTAKE_KEY here at
// start-up (a version it no longer holds is marked retired), and the api and the bot seal pasted
// keys to the current one. Each opened envelope claims its intake request id once: a replayed
// envelope finds its claim and is refused.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261205030000SignerIntake extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table signer_intake_keys (
        version integer primary key check (version > 0),
        public_key text not null check (length(public_key) between 43 and 44),
        published_at timestamptz not null default now(),
        retired_at timestamptz
      );
    `);
    this.addSql("grant select, insert, update on signer_intake_keys to warden_app;");
    this.addSql(`
      create table signer_intake_claims (
        request_id text primary key check (length(request_id) between 16 and 64),
        -- SHA-256 of the envelope's encapsulated key: one sealing, one claim, whatever request id.
        enc_hash bytea not null unique,
        user_id bigint not null,
        venue text not null,
        -- The job that claimed it (id and creation time): its own redelivery may continue.
        job_ref text not null,
        expires_at timestamptz not null,
        claimed_at timestamptz not null default now()
      );
    `);
    this.addSql(
      "create index signer_intake_claims_expires_idx on signer_intake_claims (expires_at);",
    );
    this.addSql("grant select, insert, delete on signer_intake_claims to warden_app;");
  }

  override async down(): Promise<void> {
    this.addSql("drop table signer_intake_claims;");
    this.addSql("drop table signer_intake_keys;");
  }
}
