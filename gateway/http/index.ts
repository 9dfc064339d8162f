export { createHttpApp, type HttpAppDeps, type Readiness } from "./app.ts";
export { SseChannel } from "./sse-channel.ts";
export { ANONYMOUS, createAuth } from "./auth.ts";
export { isLoopbackHostname } from "./guards.ts";
