/**
 * `gatehouse serve --stdio`: the gateway as a stdio MCP server, for desktop clients that spawn their servers.
 * One process, one client, one session; stdout carries only protocol, so logs go to stderr.
 */
import {
  ErrorCode,
  Method,
  LineDecoder,
  classify,
  encodeLine,
  failure,
  type JsonRpcMessage,
} from "../protocol/index.ts";
import type { ClientSession } from "../session/index.ts";
import type { RelatedStream } from "../pipeline/index.ts";
import type { Gateway } from "../gateway.ts";
import type { AgentIdentity } from "../identity/index.ts";
import { logger } from "../log.ts";

const log = logger("stdio-server");

export function serveStdio(gateway: Gateway, input: NodeJS.ReadableStream, output: NodeJS.WritableStream, identity: AgentIdentity): Promise<void> {
  let session: ClientSession | undefined;
  let initializing = false;
  const write = (message: JsonRpcMessage): boolean => {
    if (!output.writable) return false;
    output.write(encodeLine(message));
    return true;
  };
  const toStdout: RelatedStream = { send: write };

  const handle = (value: unknown): void => {
    const classified = classify(value);
    if (classified.kind === "invalid") {
      write(failure(classified.id, { code: ErrorCode.InvalidRequest, message: `Invalid Request: ${classified.reason}` }));
      return;
    }
    if (classified.kind === "request" && classified.message.method === Method.Initialize) {
      const { id } = classified.message;
      if (session !== undefined || initializing) {
        write(failure(id, { code: ErrorCode.InvalidRequest, message: "already initialized" }));
        return;
      }
      // A second initialize arriving while this one is being recorded must still be refused.
      initializing = true;
      void gateway.dispatcher.initialize(classified.message, identity).then(({ session: started, response }) => {
        initializing = false;
        session = started;
        if (started !== undefined) {
          started.attachStandalone({ send: write, close: () => {} });
          gateway.sessions.local.add(started);
        }
        write(response);
      });
      return;
    }
    if (session === undefined) {
      if (classified.kind === "request") {
        write(failure(classified.message.id, { code: ErrorCode.InvalidRequest, message: "initialize first" }));
      }
      return;
    }
    if (classified.kind === "notification") gateway.dispatcher.handleNotification(session, classified.message);
    else if (classified.kind === "response") gateway.dispatcher.handleResponse(session, classified.message);
    else {
      void gateway.dispatcher.handleRequest(session, classified.message, toStdout).then((response) => {
        // The spec: a request the client cancelled gets no response.
        if ("error" in response && response.error.code === ErrorCode.Cancelled) return;
        write(response);
      });
    }
  };

  const decoder = new LineDecoder(handle, (line, error) => {
    log.warn({ err: error.message }, "stdin line is not JSON");
    write(failure(null, { code: ErrorCode.ParseError, message: `Parse error: ${error.message}` }));
    void line;
  });

  return new Promise((resolve) => {
    input.setEncoding?.("utf8");
    input.on("data", (chunk: string) => decoder.push(chunk));
    input.on("end", () => resolve());
    input.on("close", () => resolve());
  });
}
