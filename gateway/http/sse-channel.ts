/**
 * An SSE response body that JSON-RPC messages can be pushed into. Used for both the GET stream (the session's
 * standalone channel) and a POST's response stream once it has something to stream.
 */
import { encodeSseEvent, serialize, type JsonRpcMessage } from "../protocol/index.ts";

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
