export { Dispatcher, type DispatcherDeps } from "./dispatcher.ts";
export { createBackendHooks, type BackendEventsDeps } from "./backend-events.ts";
export { initializeResult, mergedCapabilities, startSession, GATEWAY_INFO } from "./initialize.ts";
export type { RelatedStream, InflightCall } from "./inflight.ts";
export { AuditStage, auditUnavailable, type AuditEvent, type CallTrace, type RequestContext } from "./audit-stage.ts";
export { ModernRequests, type ModernDeps } from "./modern-requests.ts";
export { MODERN_METHODS, ModernMethod, requestSession, unsupportedVersion } from "./modern.ts";
