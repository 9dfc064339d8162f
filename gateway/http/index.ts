export { createHttpApp, type HttpAppDeps, type Readiness } from "./app.ts";
export { SseChannel } from "./sse-channel.ts";
export { ANONYMOUS, auditUnavailableResponse, createAuth, requireScope, type AuthOutcome, type RefusalRecorder } from "./auth.ts";
export { isLoopbackHostname } from "./guards.ts";
