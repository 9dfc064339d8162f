/**
 * Calls in flight from clients to backends. The gateway multiplexes every client onto one shared connection per
 * backend, so client request ids and progress tokens are rewritten on the way up and mapped back on the way down;
 * this is where those mappings live, for exactly as long as the call does.
 */
import { randomUUID } from "node:crypto";
import type { JsonRpcId, JsonRpcMessage } from "../protocol/index.ts";
import type { ClientSession } from "../session/index.ts";
import type { CallOwner } from "../upstream/index.ts";

/** The stream that belongs to one client request: its POST's SSE response, or stdout over stdio. */
export interface RelatedStream {
  /** false when the stream is gone (answered, or the client disconnected). */
  send(message: JsonRpcMessage): boolean;
}

export interface InflightCall extends CallOwner {
  /** Its key in the table: built once per call rather than at each lookup. */
  readonly key: string;
  readonly sessionId: string;
  /** The backend the call went to: only it may report progress on the call's token. */
  readonly server: string;
  readonly session: ClientSession;
  readonly clientRequestId: JsonRpcId;
  readonly stream: RelatedStream;
  readonly controller: AbortController;
  readonly clientProgressToken: string | number | undefined;
  readonly upstreamProgressToken: string | undefined;
}

export class InflightCalls {
  private readonly calls = new Map<string, InflightCall>();
  private readonly byProgressToken = new Map<string, InflightCall>();
  private nextToken = 0;
  private drainWaiters: Array<() => void> = [];

  get size(): number {
    return this.calls.size;
  }

  /**
   * Claims the client's request id for a call; undefined when a call in flight already holds it. Claimed before
   * anything the call awaits (a rate limit), so two requests with one id cannot both get past the check.
   */
  begin(session: ClientSession, server: string, clientRequestId: JsonRpcId, stream: RelatedStream, clientProgressToken: unknown): InflightCall | undefined {
    const callKey = key(session.id, clientRequestId);
    if (this.calls.has(callKey)) return undefined;
    const hasToken = typeof clientProgressToken === "string" || typeof clientProgressToken === "number";
    const call: InflightCall = {
      key: callKey,
      sessionId: session.id,
      server,
      session,
      clientRequestId,
      stream,
      controller: new AbortController(),
      clientProgressToken: hasToken ? clientProgressToken : undefined,
      // Unguessable, so a backend cannot aim progress at calls it does not serve (it is also checked by server).
      upstreamProgressToken: hasToken ? `gatehouse-progress-${++this.nextToken}-${randomUUID()}` : undefined,
    };
    this.calls.set(call.key, call);
    session.activeCalls++;
    if (call.upstreamProgressToken !== undefined) this.byProgressToken.set(call.upstreamProgressToken, call);
    return call;
  }

  end(call: InflightCall): void {
    if (this.calls.get(call.key) === call) this.calls.delete(call.key);
    call.session.activeCalls--;
    call.session.touch();
    if (call.upstreamProgressToken !== undefined) this.byProgressToken.delete(call.upstreamProgressToken);
    if (this.calls.size === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  find(sessionId: string, clientRequestId: JsonRpcId): InflightCall | undefined {
    return this.calls.get(key(sessionId, clientRequestId));
  }

  byUpstreamProgressToken(server: string, token: unknown): InflightCall | undefined {
    const call = typeof token === "string" ? this.byProgressToken.get(token) : undefined;
    return call?.server === server ? call : undefined;
  }

  abortSession(sessionId: string, reason: string): void {
    for (const call of this.calls.values()) if (call.sessionId === sessionId) call.controller.abort(reason);
  }

  /** Resolves when no call is in flight, or after `timeoutMs`, whichever is first; true when drained. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.calls.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

function key(sessionId: string, id: JsonRpcId): string {
  // A string id "1" and a number id 1 are different requests.
  return `${sessionId}\u0000${typeof id}\u0000${id}`;
}
