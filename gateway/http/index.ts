export { createHttpApp, type HttpAppDeps, type Readiness } from "./app.ts";
export { SseChannel } from "./sse-channel.ts";
