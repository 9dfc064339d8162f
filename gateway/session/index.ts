export { ClientSession, newSessionId, principalOf, type OutboundChannel } from "./session.ts";
export { MemorySessionStore, type SessionStore } from "./store.ts";
