// Encrypted backups: the file format (Fernet chunks bound to one backup) and its errors.
export {
  type BackupErrorCode,
  BackupFormatError,
  type BackupHeader,
  type BackupSummary,
  createBackupDecryptor,
  createBackupEncryptor,
  DEFAULT_CHUNK_BYTES,
  MAGIC_LINE,
  MAX_CHUNK_BYTES,
  PREFIX_BYTES,
} from "./format";
