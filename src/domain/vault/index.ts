// The vault's public surface: Fernet, the master key ring, the decrypt scope, the list of
// encrypted tables, and sealed intake (HPKE to the signer's intake key).
export {
  type DecryptedKeys,
  type EncryptedCredential,
  withDecryptedExchangeKeys,
} from "./decrypt-scope";
export { ENCRYPTED_TABLES, type EncryptedTable } from "./encrypted-tables";
export { generateFernetKey, InvalidFernetToken } from "./fernet";
export { generateIntakeKey, IntakeKeyError } from "./intake-keys";
export { KeyRing, MasterKeyError, parseMasterKeys, UnknownKeyVersion } from "./key-ring";
export {
  KeyRingCoverageError,
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
