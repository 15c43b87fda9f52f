// Exactly-once modify and close (issue 19): an idempotency key of trade_requests may now name a
// modify or a close too. The row records what was asked (`request`: the trade and the change),
// is leased while an attempt works on it (`claimed_until`), and keeps the changed trade as
// `result`, written in the same statement as the change and its audit entry, so a redelivered
// intent is answered with it instead of acting twice. Keys may be as long as the signer's
// intents allow (160).
import { Migration } from "@mikro-orm/migrations";

export class Migration20261205020000ChangeRequests extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table trade_requests
        add column action text not null default 'open' check (action in ('open', 'modify', 'close')),
        add column request jsonb,
        add column claimed_until timestamptz,
        drop constraint trade_requests_idempotency_key_check,
        add constraint trade_requests_idempotency_key_check
          check (length(idempotency_key) between 1 and 160);
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      delete from trade_requests where action <> 'open';
      -- Keys over the old limit (API keys are "api:" and up to 128 characters) cannot stay.
      delete from trade_requests where length(idempotency_key) > 128;
      alter table trade_requests
        drop column action,
        drop column request,
        drop column claimed_until,
        drop constraint trade_requests_idempotency_key_check,
        add constraint trade_requests_idempotency_key_check
          check (length(idempotency_key) between 1 and 128);
    `);
  }
}
