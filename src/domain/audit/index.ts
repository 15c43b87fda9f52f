// The append-only trade audit log (S8.1): keyed subjects, the hash chain and its verification.
export {
  type AuditAction,
  type AuditOutcome,
  type AuditRow,
  type AuditSource,
  auditSubject,
  type ChainBreak,
  type ChainCursor,
  type ChainVerdict,
  canonicalEncoding,
  canonicalJson,
  canonicalTimestamp,
  chainCursor,
  type DatabaseFilled,
  encodingParts,
  expectedPrevHash,
  GENESIS_HASH,
  type JsonObject,
  type JsonValue,
  rowHash,
  verifyChain,
} from "./chain";
export {
  type AuditChainReader,
  type AuditEntryInput,
  type AuditLog,
  AuditLogError,
  type AuditLogErrorCode,
  type Sql,
} from "./ports";
export { type AuditLogVerdict, CHAIN_BREAK_EXPLANATIONS, verifyAuditLog } from "./verify";
