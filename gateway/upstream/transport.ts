/**
 * The one internal interface every transport implements. Transports only frame bytes: they parse JSON once and
 * hand the raw value up; classification, correlation and timeouts live in the peer (connection.ts).
 */
import type { JsonRpcId, JsonRpcMessage } from "../protocol/index.ts";

/** Why a transport is gone, worded for two messages: `server "x" ${summary} before answering m` and `restarting after ${cause}`. */
export interface TransportClosed {
  summary: string;
  cause: string;
}

/** An upstream Streamable HTTP session: what a replica needs to carry it on. */
export interface UpstreamSession {
  sessionId: string;
  protocolVersion: string;
}

export interface UpstreamTransport {
  /** Connects (spawns the child, opens the SSE stream). Rejects when that fails; onclose is not called then. */
  start(): Promise<void>;
  /**
   * Delivers one message. Resolves once the transport has taken it (HTTP: the POST was accepted; its SSE body may
   * still be streaming). Rejects with TransportClosedError, SessionExpiredError or HttpStatusError.
   * `headers` are per-message HTTP headers (a gateway identity assertion); stdio has none and ignores them.
   */
  send(message: JsonRpcMessage, headers?: Record<string, string>): Promise<void>;
  /**
   * Closes for good; resolves when the child has exited or the HTTP session is deleted. onclose is not called.
   * `keepSession`: HTTP leaves the upstream session alive (another replica carries it on) instead of deleting it.
   */
  close(options?: { keepSession?: boolean }): Promise<void>;

  /** After the initialize answer: HTTP sends MCP-Protocol-Version from now on. */
  negotiated?(protocolVersion: string): void;
  /** After notifications/initialized went out: HTTP opens its GET stream. */
  initialized?(): void;
  /** HTTP: forget an expired session so the next initialize starts a new one. */
  resetSession?(): void;
  /** HTTP: carry on a session another replica initialized, without a new initialize. */
  resumeSession?(session: UpstreamSession): void;
  /** HTTP: the session this transport speaks in, once initialized or resumed. */
  currentSession?(): UpstreamSession | undefined;
  /** The call for this request id is over (timed out, cancelled): stop reading its response stream. */
  abandon?(requestId: JsonRpcId): void;

  /** `relatedRequestId` is the upstream id of the request whose response stream carried the message, if known. */
  onmessage: (message: unknown, relatedRequestId?: JsonRpcId) => void;
  /** The connection dropped on its own (child exit, network error). Called at most once. */
  onclose: (closed: TransportClosed) => void;
  /** HTTP: the server answered 404 for our session outside of a request (GET stream, notification POST). */
  onsessionexpired?: () => void;
  /** HTTP: a request's response stream ended without its response and could not be resumed. */
  onresponselost?: (requestId: JsonRpcId, reason: string) => void;
}

export class TransportClosedError extends Error {
  readonly closed: TransportClosed;
  constructor(closed: TransportClosed) {
    super(closed.summary);
    this.name = "TransportClosedError";
    this.closed = closed;
  }
}

/** HTTP 404 while holding a session id: the server forgot the session; re-initialize and retry once. */
export class SessionExpiredError extends Error {
  constructor() {
    super("session expired");
    this.name = "SessionExpiredError";
  }
}

/** The server answered a POST with a status that carries no JSON-RPC answer. */
export class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number, detail: string) {
    super(`HTTP ${status}${detail ? `: ${detail}` : ""}`);
    this.name = "HttpStatusError";
    this.status = status;
  }
}

export function noop(): void {}

/** How the gateway introduces itself to backends when no client's info is passed through. */
export const UPSTREAM_CLIENT_INFO = Object.freeze({ name: "gatehouse", version: "0.0.0" });

/** Why a start or call failed, in the words a log line or an error message wants. */
export function reasonOf(error: unknown): string {
  if (error instanceof TransportClosedError) return error.closed.cause;
  return error instanceof Error ? error.message : String(error);
}
