/**
 * The backend-facing side: what backends send that is not an answer. Every message must reach the one client it
 * belongs to, and never another agent, because backends are shared across agents.
 */
import {
  ErrorCode,
  JsonRpcError,
  LOG_LEVELS,
  Method,
  isModernVersion,
  type CatalogKind,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
} from "../protocol/index.ts";
import type { ClientSession, SessionStore } from "../session/index.ts";
import type { BackendHooks, BackendState } from "../upstream/index.ts";
import type { InflightCall, InflightCalls } from "./inflight.ts";
import type { ResourceSubscriptions } from "./subscriptions.ts";
import { logger } from "../log.ts";

const log = logger("backend-events");

export interface BackendEventsDeps {
  /** Where a session id leads: 2025 sessions, and 2026-07-28 listen streams (resources/updated subscribers). */
  sessions: Pick<SessionStore, "get" | "values" | "size">;
  inflight: InflightCalls;
  subscriptions: ResourceSubscriptions;
  onCatalogChanged: (server: string, kinds: CatalogKind[]) => void;
  onStateChanged: (server: string, state: BackendState, detail: string | undefined) => void;
  /**
   * `serve --stdio`: exactly one client exists for the process's life, so a request no call explains is still
   * its own. Over HTTP that guess could hand one agent's sampling to another, so it is refused.
   */
  soleClient: boolean;
}

const CLIENT_CAPABILITY_FOR: Record<string, "sampling" | "elicitation" | "roots"> = {
  [Method.SamplingCreateMessage]: "sampling",
  [Method.ElicitationCreate]: "elicitation",
  [Method.RootsList]: "roots",
};

export function createBackendHooks(deps: BackendEventsDeps): BackendHooks {
  return {
    onNotification(server, message, owner) {
      switch (message.method) {
        case Method.Progress:
          return deliverProgress(deps, server, message);
        case Method.Message:
          return deliverLog(server, message, owner as InflightCall | undefined);
        case Method.ResourceUpdated:
          return deliverResourceUpdate(deps, server, message);
        case Method.Cancelled:
          return; // the upstream layer aborts the matching server-to-client request itself
        default:
          if (owner !== undefined) deliverToCall(owner as InflightCall, message);
          else log.debug({ server, method: message.method }, "unattributable notification dropped");
      }
    },

    onServerRequest(server, message, owners, signal) {
      return forwardServerRequest(deps, server, message, owners as InflightCall[], signal);
    },

    onCatalogChanged: (server, kinds) => deps.onCatalogChanged(server, kinds),
    onStateChanged: (server, state, detail) => deps.onStateChanged(server, state, detail),
  };
}

function deliverToCall(call: InflightCall, message: JsonRpcMessage): boolean {
  return call.stream.send(message) || call.session.sendStandalone(message);
}

function deliverProgress(deps: BackendEventsDeps, server: string, message: JsonRpcNotification): void {
  const call = deps.inflight.byUpstreamProgressToken(server, message.params?.progressToken);
  if (call === undefined) return; // the call already finished; late progress is meaningless
  deliverToCall(call, { ...message, params: { ...message.params, progressToken: call.clientProgressToken } });
}

/**
 * Log messages go only to the client whose call they belong to, when the transport can tell (Streamable HTTP
 * sends them on that call's stream), at or above the level that client set. A shared backend's other log lines
 * may describe any agent's work, so they stay in the gateway's own logs (debug) and reach no client.
 */
function deliverLog(server: string, message: JsonRpcNotification, owner: InflightCall | undefined): void {
  if (owner === undefined) {
    log.debug({ server }, "backend log message with no owning call kept from clients");
    return;
  }
  // 2026-07-28: no logLevel in the request's _meta means no log messages for it.
  if (owner.session.logLevel === undefined && isModernVersion(owner.session.protocolVersion)) return;
  const level = message.params?.level;
  const rank = typeof level === "string" ? LOG_LEVELS.indexOf(level as (typeof LOG_LEVELS)[number]) : -1;
  const threshold = owner.session.logLevel === undefined ? 0 : LOG_LEVELS.indexOf(owner.session.logLevel);
  if (rank < threshold) return;
  const upstreamLogger = message.params?.logger;
  deliverToCall(owner, { ...message, params: { ...message.params, logger: typeof upstreamLogger === "string" ? `${server}/${upstreamLogger}` : server } });
}

function deliverResourceUpdate(deps: BackendEventsDeps, server: string, message: JsonRpcNotification): void {
  const uri = message.params?.uri;
  if (typeof uri !== "string") return;
  for (const [sessionId, exposedUri] of deps.subscriptions.subscribersOf(server, uri)) {
    deps.sessions.get(sessionId)?.sendStandalone({ ...message, params: { ...message.params, uri: exposedUri } });
  }
}

async function forwardServerRequest(
  deps: BackendEventsDeps,
  server: string,
  message: JsonRpcRequest,
  owners: InflightCall[],
  signal: AbortSignal,
): Promise<JsonObject> {
  const sessionIds = new Set(owners.map((o) => o.sessionId));
  let session: ClientSession | undefined;
  if (sessionIds.size === 1) {
    session = owners[0]!.session;
  } else if (sessionIds.size === 0 && deps.soleClient && deps.sessions.size === 1) {
    session = deps.sessions.values().next().value;
  } else {
    // Guessing would hand one agent's sampling or elicitation to another agent: refuse instead.
    const why = sessionIds.size === 0 ? "no call to it is in flight" : `calls from ${sessionIds.size} client sessions are in flight`;
    throw new JsonRpcError(ErrorCode.InternalError, `gatehouse cannot tell which client ${message.method} from server "${server}" is for: ${why}`);
  }
  if (session === undefined || session.isClosed) throw new JsonRpcError(ErrorCode.BackendClosed, "the client session has ended");
  const capability = CLIENT_CAPABILITY_FOR[message.method];
  // A stateless request's MRTR exchange decides that itself: the client gets -32021, not the backend an error.
  if (capability !== undefined && session.inputBroker === undefined && session.clientCapabilities[capability] === undefined) {
    throw new JsonRpcError(ErrorCode.MethodNotFound, `the client did not declare the ${capability} capability`);
  }
  // Prefer the stream of the call that caused it (the spec's "related" request), else the session's GET stream.
  const call = owners.find((o) => o.sessionId === session.id);
  const deliver = (m: JsonRpcMessage): boolean => (call !== undefined ? deliverToCall(call, m) : session.sendStandalone(m));
  return session.requestClient(message.method, message.params, deliver, signal);
}
