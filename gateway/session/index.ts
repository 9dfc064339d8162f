export { ClientSession, newSessionId, principalOf, type OutboundChannel } from "./session.ts";
export { MemorySessionStore, type RemovalReason, type SessionStore } from "./store.ts";
export { SessionDirectory } from "./directory.ts";
