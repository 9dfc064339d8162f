/**
 * The contract between the gateway's pipeline and one backend MCP server. One `Backend` per configured server,
 * shared by every client session (see shared/ARCHITECTURE.md: per-session processes leak).
 */
import type {
  JsonObject,
  JsonRpcNotification,
  JsonRpcRequest,
  Tool,
  Prompt,
  Resource,
  ResourceTemplate,
  ServerCapabilities,
  Implementation,
  CatalogKind,
} from "../protocol/index.ts";
import type { HttpServerConfig, ResolvedContainerServerConfig, StdioServerConfig } from "../config/index.ts";

/** What a backend is built from: a server's settings (stdio cwd may be left to default to the config's folder). */
export type BackendConfig = StdioServerConfig | HttpServerConfig | ResolvedContainerServerConfig;

/** Everything a backend lists, fetched in full (following its cursors) at connect and on list_changed. */
export interface BackendCatalog {
  tools: Tool[];
  prompts: Prompt[];
  resources: Resource[];
  resourceTemplates: ResourceTemplate[];
}

export type BackendState = "starting" | "ready" | "restarting" | "stopped";

/**
 * Who asked. Opaque to the upstream layer: it only hands it back, so that messages a backend sends while
 * serving a call reach the client that made the call.
 */
export type CallOwner = { readonly sessionId: string };

export interface CallOptions {
  owner?: CallOwner;
  /** Aborting sends notifications/cancelled to the backend and rejects with ErrorCode.Cancelled. */
  signal?: AbortSignal;
  /** Overrides the server's configured timeoutMs. */
  timeoutMs?: number;
  /**
   * A gateway-signed identity assertion for this call (servers with `identity: assertion`). HTTP and SSE backends
   * get it as their bearer token; stdio backends in params._meta["io.gatehouse/identity"].
   */
  assertion?: string;
}

export interface BackendHooks {
  /**
   * A notification from the backend. `owner` is set when the transport knows which call it belongs to
   * (Streamable HTTP sends it on that call's response stream); stdio cannot know.
   */
  onNotification(server: string, message: JsonRpcNotification, owner: CallOwner | undefined): void;
  /**
   * A server-to-client request (sampling, elicitation, roots). `owners` is the exact caller when the transport
   * knows it, otherwise the distinct owners of the calls in flight on this backend (possibly none).
   * Resolve with the result, or reject with a JsonRpcError to answer with that error.
   * `signal` aborts when the backend cancels its request or the connection drops.
   */
  onServerRequest(server: string, message: JsonRpcRequest, owners: CallOwner[], signal: AbortSignal): Promise<JsonObject>;
  /** The catalog was re-fetched after list_changed or a reconnect, and these kinds differ from before. */
  onCatalogChanged(server: string, kinds: CatalogKind[]): void;
  onStateChanged(server: string, state: BackendState, detail: string | undefined): void;
}

export interface Backend {
  readonly name: string;
  readonly state: BackendState;
  /** Set once initialized; kept across restarts so the routing table stays stable while a backend is down. */
  readonly catalog: BackendCatalog;
  readonly capabilities: ServerCapabilities | undefined;
  readonly serverInfo: Implementation | undefined;
  readonly instructions: string | undefined;
  readonly protocolVersion: string | undefined;

  /**
   * Connects, initializes and fetches the catalog. Resolves when ready. On failure it rejects, and the
   * supervisor keeps retrying in the background with backoff.
   */
  start(): Promise<void>;
  /**
   * Sends a request with a fresh upstream id and resolves with its `result`. Rejects with a JsonRpcError:
   * the backend's own error unchanged, or BackendUnavailable / BackendTimeout / BackendClosed / Cancelled,
   * each with a message that names the server.
   */
  request(method: string, params: JsonObject | undefined, options?: CallOptions): Promise<JsonObject>;
  notify(method: string, params?: JsonObject): void;
  /** Stops for good: kills the child / closes the HTTP session; in-flight calls reject with BackendClosed. */
  stop(): Promise<void>;
  /**
   * A client session left this replica: a backend holding per-session state lets it go. `ended`: the session is
   * over everywhere (its upstream HTTP session is deleted); otherwise it may carry on at another replica.
   */
  releaseSession?(sessionId: string, ended: boolean): void;
}
