/**
 * An SSE response body that JSON-RPC messages can be pushed into. Used for both the GET stream (the session's
 * standalone channel) and a POST's response stream once it has something to stream.
 */
import { ErrorCode, encodeSseEvent, serialize, type JsonRpcMessage } from "../protocol/index.ts";

const encoder = new TextEncoder();
/** Events queued for a client that is not reading before its stream is closed. */
const MAX_QUEUED_EVENTS = 1_000;

export const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
} as const;

export class SseChannel {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private open = true;
  private keepalive: NodeJS.Timeout | undefined;
  private readonly onClose: () => void;

  constructor(options: { keepaliveMs?: number; onClose?: () => void } = {}) {
    this.onClose = options.onClose ?? (() => {});
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      // The client went away.
      cancel: () => this.finish(false),
    });
    if (options.keepaliveMs !== undefined) {
      // A comment line keeps proxies from timing out an idle stream; clients ignore it.
      this.keepalive = setInterval(() => this.write(": keepalive\n\n"), options.keepaliveMs);
      this.keepalive.unref();
    }
  }

  get isOpen(): boolean {
    return this.open;
  }

  send(message: JsonRpcMessage): boolean {
    return this.write(encodeSseEvent(serialize(message), { event: "message" }));
  }

  close(): void {
    this.finish(true);
  }

  private write(text: string): boolean {
    if (!this.open) return false;
    // A client that stops reading must not make the gateway buffer without bound: drop it instead.
    if ((this.controller.desiredSize ?? 0) < -MAX_QUEUED_EVENTS) {
      this.finish(true);
      return false;
    }
    try {
      this.controller.enqueue(encoder.encode(text));
      return true;
    } catch {
      this.finish(false);
      return false;
    }
  }

  private finish(closeController: boolean): void {
    if (!this.open) return;
    this.open = false;
    if (this.keepalive) clearInterval(this.keepalive);
    if (closeController) {
      try {
        this.controller.close();
      } catch {
        // already closed by the runtime
      }
    }
    this.onClose();
  }
}

/** A whole answer as a one-event SSE stream, for clients whose Accept excludes JSON. */
export function sseResponse(message: JsonRpcMessage, headers: Record<string, string> = {}): Response {
  const channel = new SseChannel();
  channel.send(message);
  channel.close();
  return new Response(channel.body, { status: 200, headers: { ...SSE_HEADERS, ...headers } });
}

/**
 * The answer to one POSTed request: plain JSON unless something must be streamed first (progress, a log line, a
 * server-to-client request), in which case the response turns into an SSE stream at the first message, so the
 * common call pays no SSE framing. `run` gets the stream to send on and resolves with the final answer.
 * `onClose` runs if the client drops the SSE stream; `status` picks the HTTP status of a JSON answer.
 */
export function lazyStreamResponse(
  run: (stream: { send(message: JsonRpcMessage): boolean }) => Promise<JsonRpcMessage>,
  options: { sse: boolean; json: boolean; onClose?: () => void; status?: (answer: JsonRpcMessage) => number },
): Promise<Response> {
  return new Promise<Response>((resolve) => {
    let channel: SseChannel | undefined;
    const stream = {
      send(message: JsonRpcMessage): boolean {
        if (!options.sse) return false;
        if (channel === undefined) {
          channel = new SseChannel(options.onClose === undefined ? {} : { onClose: options.onClose });
          resolve(new Response(channel.body, { status: 200, headers: SSE_HEADERS }));
        }
        return channel.send(message);
      },
    };
    const failed = (): JsonRpcMessage => ({ jsonrpc: "2.0", id: null, error: { code: ErrorCode.InternalError, message: "internal gateway error" } });
    void run(stream).catch(failed).then((answer) => {
      if (channel !== undefined) {
        channel.send(answer);
        channel.close();
      } else if (options.json || !options.sse) {
        resolve(new Response(serialize(answer), { status: options.status?.(answer) ?? 200, headers: { "content-type": "application/json" } }));
      } else {
        resolve(sseResponse(answer));
      }
    });
  });
}
