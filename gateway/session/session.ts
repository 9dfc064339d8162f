/**
 * One agent's MCP session with the gateway. Transport-neutral: the HTTP endpoint and `serve --stdio` both drive
 * it. It owns what is per-client (negotiated version, capabilities, log level, subscriptions, the requests the
 * gateway has sent the client); backends are shared and never live here.
 */
import { randomBytes } from "node:crypto";
import {
  ErrorCode,
  JsonRpcError,
  type ClientCapabilities,
  type Implementation,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcResponse,
  type LogLevel,
  type AnyProtocolVersion,
} from "../protocol/index.ts";
import type { AgentIdentity } from "../identity/index.ts";

/** Where messages go that no open request owns: the GET stream over HTTP, stdout over stdio. */
export interface OutboundChannel {
  /** false when the message could not be delivered (channel closed). */
  send(message: JsonRpcMessage): boolean;
  close(): void;
}

/**
 * 2026-07-28 has no server-to-client requests: a stateless request's session hands them to its MRTR exchange,
 * which answers the client with input_required and resolves once the client retries with the inputs.
 */
export type InputBroker = (method: string, params: JsonObject | undefined, signal: AbortSignal) => Promise<JsonObject>;

interface PendingClientRequest {
  resolve(result: JsonObject): void;
  reject(error: JsonRpcError): void;
}

/** Who a session belongs to: another identity presenting its id gets 404, as if it did not exist. */
export function principalOf(identity: AgentIdentity): string {
  return `${identity.issuer}\u0000${identity.subject}`;
}

/** 128 bits from the CSPRNG, base64url: unguessable, header-safe, visible ASCII as the spec requires. */
export function newSessionId(): string {
  return randomBytes(16).toString("base64url");
}

/** `gatehouse:<n>:<replica>`: unique per replica, and it says which replica waits for the answer. */
export function clientRequestId(n: number, replicaId: string): string {
  return `gatehouse:${n}:${replicaId}`;
}

/** The replica a client's response belongs to, from the id of the request it answers. */
export function replicaOfClientRequest(id: JsonRpcId | null): string | undefined {
  if (typeof id !== "string") return undefined;
  return /^gatehouse:\d+:(.+)$/.exec(id)?.[1];
}

export class ClientSession {
  readonly id: string;
  readonly protocolVersion: AnyProtocolVersion;
  readonly clientInfo: Implementation | undefined;
  readonly clientCapabilities: ClientCapabilities;
  readonly principal: string;
  /** The identity of the latest request (same principal; a refreshed token may carry new scopes or expiry). */
  identity: AgentIdentity;
  readonly createdAt = Date.now();
  lastSeenAt = Date.now();
  logLevel: LogLevel | undefined;
  /** Calls in flight: a session busy with a long call is not idle, whatever lastSeenAt says. */
  activeCalls = 0;
  /** When this replica last renewed the session's shared record (SessionDirectory throttles on it). */
  sharedTouchedAt = 0;
  /** Set on a stateless (2026-07-28) request's session: server-to-client requests go through MRTR. */
  inputBroker: InputBroker | undefined;
  /** Names this replica in the ids of requests it sends the client, so an answer POSTed elsewhere finds its way back. */
  readonly replicaId: string;
  private standalone: OutboundChannel | undefined;
  /** The GET stream when another replica holds it: messages go there over the replica bus. */
  private remote: OutboundChannel | undefined;
  private readonly pending = new Map<JsonRpcId, PendingClientRequest>();
  private nextRequestId = 0;
  private closed = false;

  constructor(init: {
    id?: string;
    protocolVersion: AnyProtocolVersion;
    identity: AgentIdentity;
    clientInfo?: Implementation | undefined;
    clientCapabilities?: ClientCapabilities | undefined;
    replicaId?: string;
  }) {
    this.replicaId = init.replicaId ?? "local";
    this.identity = init.identity;
    this.principal = principalOf(init.identity);
    this.id = init.id ?? newSessionId();
    this.protocolVersion = init.protocolVersion;
    this.clientInfo = init.clientInfo;
    this.clientCapabilities = init.clientCapabilities ?? {};
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get hasStandaloneChannel(): boolean {
    return this.standalone !== undefined;
  }

  /** True when `identity` is the session's owner (and then adopts its fresher token claims). */
  admits(identity: AgentIdentity): boolean {
    if (principalOf(identity) !== this.principal) return false;
    this.identity = identity;
    return true;
  }

  touch(): void {
    this.lastSeenAt = Date.now();
  }

  /** Returns false when a channel is already open (the spec allows one GET stream per session here). */
  attachStandalone(channel: OutboundChannel): boolean {
    if (this.standalone !== undefined || this.closed) return false;
    this.standalone = channel;
    return true;
  }

  /** True when `channel` was the session's stream (not one already replaced or closed). */
  detachStandalone(channel: OutboundChannel): boolean {
    if (this.standalone !== channel) return false;
    this.standalone = undefined;
    return true;
  }

  /** On the session's GET stream, wherever it is open: here, or on another replica. */
  sendStandalone(message: JsonRpcMessage): boolean {
    return (this.standalone ?? this.remote)?.send(message) ?? false;
  }

  /** On this replica's GET stream only (a message relayed from another replica must not bounce back). */
  sendLocal(message: JsonRpcMessage): boolean {
    return this.standalone?.send(message) ?? false;
  }

  /** The stream moved to another replica (or closed there, when undefined). */
  setRemoteStream(channel: OutboundChannel | undefined): void {
    this.remote = channel;
  }

  /** Another replica took the GET stream over: ours ends, so the client holds exactly one. */
  closeStandalone(): void {
    const channel = this.standalone;
    this.standalone = undefined;
    channel?.close();
  }

  /**
   * Sends a server-to-client request on `deliver` (the related request's stream, or the standalone channel)
   * and resolves with the client's result. The id is the gateway's own, so backends' ids never collide.
   */
  requestClient(
    method: string,
    params: JsonObject | undefined,
    deliver: (message: JsonRpcMessage) => boolean,
    signal: AbortSignal,
  ): Promise<JsonObject> {
    if (this.closed) return Promise.reject(new JsonRpcError(ErrorCode.BackendClosed, "client session has ended"));
    if (this.inputBroker !== undefined) return this.inputBroker(method, params, signal);
    const id = clientRequestId(++this.nextRequestId, this.replicaId);
    return new Promise<JsonObject>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.pending.delete(id)) return;
        this.sendStandalone({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: id, reason: "cancelled by the server" } });
        reject(new JsonRpcError(ErrorCode.Cancelled, `${method} was cancelled`));
      };
      this.pending.set(id, {
        resolve: (result) => {
          signal.removeEventListener("abort", onAbort);
          resolve(result);
        },
        reject: (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      });
      signal.addEventListener("abort", onAbort, { once: true });
      const message = params === undefined ? { jsonrpc: "2.0" as const, id, method } : { jsonrpc: "2.0" as const, id, method, params };
      if (!deliver(message)) {
        this.pending.delete(id);
        signal.removeEventListener("abort", onAbort);
        reject(new JsonRpcError(ErrorCode.BackendUnavailable, `no open stream to the client to deliver ${method}`));
      }
    });
  }

  /** A response the client POSTed. Returns false when it answers nothing we asked. */
  settleClientRequest(response: JsonRpcResponse): boolean {
    const entry = response.id === null ? undefined : this.pending.get(response.id);
    if (entry === undefined || response.id === null) return false;
    this.pending.delete(response.id);
    if ("result" in response) entry.resolve(response.result);
    else entry.reject(new JsonRpcError(response.error.code, response.error.message, response.error.data));
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.pending.values()) entry.reject(new JsonRpcError(ErrorCode.BackendClosed, "client session has ended"));
    this.pending.clear();
    this.standalone?.close();
    this.standalone = undefined;
    this.remote = undefined;
  }
}
