// The vault's public surface: Fernet, the master key ring, the decrypt scope and the list of
// encrypted tables.
export {
  type DecryptedKeys,
  type EncryptedCredential,
  withDecryptedExchangeKeys,
} from "./decrypt-scope";
export { ENCRYPTED_TABLES, type EncryptedTable } from "./encrypted-tables";
export { generateFernetKey, InvalidFernetToken } from "./fernet";
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
