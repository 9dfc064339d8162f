export type { BusEnvelope, BusMessage, ReplicaBus, SessionRecord, SessionRecords, SharedSession, SharedState, TouchOutcome } from "./types.ts";
export { StateUnavailableError } from "./errors.ts";
export { MemoryState } from "./memory.ts";
export { RedisState } from "./redis.ts";
export { MemoryRateLimiter, type BucketSpec, type RateDecision, type RateLimiter } from "./rate-limit.ts";
