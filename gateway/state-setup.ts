/** Builds a Gateway's shared state from its config, and what per-session HTTP servers keep in it. */
import { randomBytes } from "node:crypto";
import type { ResolvedConfig } from "./config/index.ts";
import { MemoryState, RedisState, type SharedState } from "./state/index.ts";
import type { UpstreamSession, UpstreamSessionStore } from "./upstream/index.ts";
import { logger } from "./log.ts";

const log = logger("state-setup");

/** How long start() waits for Redis before serving anyway (sessions get 503 until it answers). */
export const STATE_READY_WAIT_MS = 3_000;

/** The replica id is unique per process: a restarted pod must not receive what was meant for its predecessor. */
export function createState(config: ResolvedConfig): SharedState {
  const replicaId = `${config.audit.replica}-${randomBytes(4).toString("hex")}`;
  const { state } = config;
  if (state.store === "redis" && state.redis !== undefined) return new RedisState({ url: state.redis.url, keyPrefix: state.redis.keyPrefix, replicaId });
  return new MemoryState(replicaId);
}

/** Per-session HTTP servers keep each client session's upstream session id in its shared record. */
export function upstreamSessionsIn(state: SharedState): UpstreamSessionStore {
  return {
    get: async (clientSessionId, server) => {
      const stored = (await state.sessions.get(clientSessionId))?.backendSessions[server];
      return stored === undefined ? undefined : (JSON.parse(stored) as UpstreamSession);
    },
    set: (clientSessionId, server, session) => {
      state.sessions.setBackendSession(clientSessionId, server, session && JSON.stringify(session)).catch((error: unknown) => {
        log.warn({ server, err: (error as Error).message }, "could not share an upstream session id; another replica would start a new one");
      });
    },
  };
}
