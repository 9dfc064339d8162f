/** The audit stage's public face: the hash-chained log, its verifier and queries. See README.md. */
export { AuditLog, AuditUnavailableError, type AuditLogOptions, type AuditLogStats } from "./writer.ts";
export { buildEntry, type ArgumentsMode, type EntrySettings, type RequestFacts } from "./entry.ts";
export { verifyAuditDir, type VerifyReport } from "./verify.ts";
export { queryAudit, parseTime, matches, encodeCursor, QueryError, CorruptLogError, MAX_QUERY_LIMIT, type AuditFilter, type QueryOptions, type QueryResult } from "./query.ts";
export { DECISION_RESULTS, GENESIS, sealRecord, recomputeHash, type AuditEntry, type AuditRecord, type DecisionResult, type RecordKind } from "./record.ts";
export { listSegments, readLines, segmentName, type SegmentSummary } from "./segments.ts";
export { CHECKPOINT_TYPE, signCheckpoint, type CheckpointPayload, type CheckpointSigner } from "./checkpoints.ts";
export { maskSecrets, redactPointers, DETECTORS, REDACTED } from "./redact.ts";
export { createStdoutSink } from "./stdout-sink.ts";
export { createRedisSink } from "./redis-sink.ts";
export type { AuditSink, SinkStats } from "./sink.ts";
