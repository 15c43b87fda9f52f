// Testnet keys (issue 16): a key is bound to the venue's test network when it is connected, and
// stays bound. Every read of a credential carries the flag, so the adapters send a testnet key
// to the testnet only and its positions never mix with mainnet ones.
import { Migration } from "@mikro-orm/migrations";

export class Migration20261204140100CredentialsTestnet extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      "alter table exchange_credentials add column testnet boolean not null default false;",
    );
  }

  override async down(): Promise<void> {
    this.addSql("alter table exchange_credentials drop column testnet;");
  }
}
