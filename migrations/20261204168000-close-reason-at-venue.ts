// A close made by hand at the venue (its fills' orders say so) is recorded as
// 'closed_at_venue'; 'venue' stays for a venue close whose reason its data does not tell.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204168000CloseReasonAtVenue extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table trades drop constraint trades_close_reason_check,
        add constraint trades_close_reason_check check (close_reason is null or close_reason in
          ('manual', 'stop_loss', 'take_profit', 'liquidation', 'closed_at_venue', 'venue'));
    `);
  }

  override async down(): Promise<void> {
    this.addSql("update trades set close_reason = 'venue' where close_reason = 'closed_at_venue';");
    this.addSql(`
      alter table trades drop constraint trades_close_reason_check,
        add constraint trades_close_reason_check check (close_reason is null or close_reason in
          ('manual', 'stop_loss', 'take_profit', 'liquidation', 'venue'));
    `);
  }
}
