// The vault's public surface: Fernet, the two key rings (MASTER_KEYS for exchange keys,
// ACCOUNT_KEYS for account secrets), the list of encrypted tables, and
// sealed intake (HPKE to the signer's intake key).
export {
  type AccountKeys,
  openAccountSecret,
  type RingedToken,
  sealAccountSecret,
} from "./account-secrets";
// The decrypt scope is not re-exported: whoever decrypts exchange keys (the signer's modules)
// imports ./decrypt-scope itself, so an api or bot module that imports this barrel never loads it.
export type { DecryptedKeys, EncryptedCredential } from "./decrypt-scope";
export {
  accountMoves,
  ENCRYPTED_TABLES,
  type EncryptedTable,
  entryName,
  tablesUnder,
} from "./encrypted-tables";
export { generateFernetKey, InvalidFernetToken } from "./fernet";
export { generateIntakeKey, IntakeKeyError } from "./intake-keys";
export {
  type AccountKeyRing,
  type ExchangeKeyRing,
  KeyRing,
  MasterKeyError,
  parseAccountKeys,
  parseKeyRing,
  parseMasterKeys,
  RING_VARIABLE,
  type RingName,
  UnknownKeyVersion,
} from "./key-ring";
export {
  KeyRingCoverageError,
  type MoveReport,
  moveToAccountRing,
  type RotationProgress,
  type RotationReport,
  rewriteBelow,
  rotateAll,
  type StoredRow,
  type VaultStore,
  verifyKeyRingCoverage,
} from "./rotation";
export {
  envelopeIdentity,
  INTAKE_INFO,
  IntakeKeyRing,
  IntakePublicKeys,
  type IntakePurpose,
  parseIntakeKeys,
  parseIntakePublicKeys,
  SealedIntakeError,
  type SealedIntakeErrorCode,
  withOpenedIntake,
} from "./sealed-intake";
