// Streamable HTTP and legacy SSE edge cases, against small real servers whose misbehaviour we trigger on purpose.
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorCode, JsonRpcError } from "../protocol/index.ts";
import type { HttpServerConfig } from "../config/schema.ts";
import { startScriptedHttpServer, type ScriptedHttpServer } from "../../test/fixtures/scripted-http-server.ts";
import { createBackend, type Backend } from "./index.ts";
import { RecordingHooks, firstText, waitFor } from "./testing.ts";

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scripted(options: { getStream?: boolean } = {}): Promise<ScriptedHttpServer> {
  const server = await startScriptedHttpServer(options);
  cleanups.push(() => server.stop());
  return server;
}

function backendFor(url: string, hooks: RecordingHooks, config: Partial<HttpServerConfig> = {}): Backend {
  const backend = createBackend(
    { name: "scripted", transport: "http", url, headers: {}, timeoutMs: 3_000, required: true, identity: "none", roots: false, scope: "shared", protocol: "2025", ...config },
    hooks,
    { configDir: process.cwd(), backoff: { baseMs: 20, capMs: 100 } },
  );
  cleanups.push(() => backend.stop());
  return backend;
}

const call = (backend: Backend, name: string, args: Record<string, unknown> = {}, owner?: { sessionId: string }) =>
  backend.request("tools/call", { name, arguments: args }, owner === undefined ? {} : { owner });

async function rejection(promise: Promise<unknown>): Promise<JsonRpcError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(JsonRpcError);
  return error as JsonRpcError;
}

describe("Streamable HTTP backend", () => {
  it("sends the protocol headers, and only the configured ones", async () => {
    const server = await scripted();
    const backend = backendFor(server.url, new RecordingHooks(), { headers: { Authorization: "Bearer backend-token", "X-Team": "blue" } });
    await backend.start();
    await call(backend, "echo", { text: "x" });
    const posts = server.requests.filter((request) => request.httpMethod === "POST");
    const [initialize, ...rest] = posts;
    expect(initialize?.rpcMethod).toBe("initialize");
    expect(initialize?.sessionId).toBeUndefined();
    expect(initialize?.protocolVersion).toBeUndefined();
    expect(rest.map((request) => request.rpcMethod)).toEqual(["notifications/initialized", "tools/list", "tools/call"]);
    for (const request of posts) {
      expect(request.headers.accept).toBe("application/json, text/event-stream");
      expect(request.headers["content-type"]).toBe("application/json");
    }
    for (const request of server.requests) {
      expect(request.headers.authorization).toBe("Bearer backend-token");
      expect(request.headers["x-team"]).toBe("blue");
      expect(request.headers.cookie).toBeUndefined();
    }
    const get = await waitFor(() => server.requests.find((request) => request.httpMethod === "GET"), "the GET stream request");
    expect(get?.headers.accept).toBe("text/event-stream");
    for (const request of [...rest, get]) {
      expect(request.sessionId).toBe("s1");
      expect(request.protocolVersion).toBe("2025-11-25");
    }
  });

  it("re-initializes once when the session expires (404) and retries the call", async () => {
    const server = await scripted();
    const hooks = new RecordingHooks();
    const backend = backendFor(server.url, hooks);
    await backend.start();
    expect(firstText(await call(backend, "echo", { text: "before" }))).toBe("before");
    server.expireSessions();
    expect(firstText(await call(backend, "echo", { text: "after" }))).toBe("after");
    const initializes = server.requests.filter((request) => request.rpcMethod === "initialize");
    expect(initializes).toHaveLength(2);
    const calls = server.requests.filter((request) => request.rpcMethod === "tools/call");
    expect(calls.map((request) => request.sessionId)).toEqual(["s1", "s1", "s2"]);
    expect(backend.state).toBe("ready");
    // The catalog was refetched on the new session but did not change.
    await waitFor(() => server.requests.filter((request) => request.rpcMethod === "tools/list").length === 2, "the refetch");
    expect(hooks.catalogChanges).toEqual([["tools"]]);
  });

  it("relates messages on a call's SSE stream to that call, and resumes a dropped stream", async () => {
    const server = await scripted();
    const hooks = new RecordingHooks();
    const backend = backendFor(server.url, hooks);
    await backend.start();
    const owner = { sessionId: "streamer" };
    expect(firstText(await call(backend, "sse-echo", { text: "streamed" }, owner))).toBe("streamed");
    expect(hooks.notifications.find((entry) => entry.message.params?.data === "about streamed")?.owner).toBe(owner);

    expect(firstText(await call(backend, "drop", { text: "resumed" }, owner))).toBe("resumed");
    expect(hooks.notifications.find((entry) => entry.message.params?.data === "before drop")?.owner).toBe(owner);
    const resume = server.requests.find((request) => request.httpMethod === "GET" && request.headers["last-event-id"] !== undefined);
    expect(resume?.headers["last-event-id"]).toMatch(/^drop-\d+$/);
  });

  it("turns an HTTP error status into BackendUnavailable and stays up", async () => {
    const server = await scripted();
    const backend = backendFor(server.url, new RecordingHooks());
    await backend.start();
    const error = await rejection(call(backend, "status", { code: 500 }));
    expect(error.code).toBe(ErrorCode.BackendUnavailable);
    expect(error.message).toBe('server "scripted" answered tools/call with HTTP 500: scripted failure');
    expect(backend.state).toBe("ready");
    expect(firstText(await call(backend, "echo", { text: "still" }))).toBe("still");
  });

  it("listens on the GET stream when offered, and accepts 405 when not", async () => {
    const withStream = await scripted({ getStream: true });
    const hooks = new RecordingHooks();
    const backend = backendFor(withStream.url, hooks);
    await backend.start();
    await waitFor(() => withStream.openGetStreams === 1, "the GET stream");
    await call(backend, "whisper", { text: "psst" }, { sessionId: "someone" });
    const whisper = await waitFor(() => hooks.notifications.find((entry) => entry.message.params?.data === "psst"), "the GET-stream message");
    expect(whisper.owner).toBeUndefined();

    const without = await scripted();
    const quiet = backendFor(without.url, new RecordingHooks());
    await quiet.start();
    await waitFor(() => without.requests.some((request) => request.httpMethod === "GET"), "the GET attempt");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(without.requests.filter((request) => request.httpMethod === "GET")).toHaveLength(1);
    expect(quiet.state).toBe("ready");
  });

  it("deletes its session and closes its streams on stop", async () => {
    const server = await scripted({ getStream: true });
    const hooks = new RecordingHooks();
    const backend = backendFor(server.url, hooks);
    await backend.start();
    await waitFor(() => server.openGetStreams === 1, "the GET stream");
    await backend.stop();
    const deletion = server.requests.find((request) => request.httpMethod === "DELETE");
    expect(deletion?.sessionId).toBe("s1");
    await waitFor(() => server.openGetStreams === 0, "the GET stream to close");
    expect(hooks.states.at(-1)?.state).toBe("stopped");
  });

  it("fails in-flight calls when the server goes away, and reconnects when it is back", async () => {
    const server = await scripted({ getStream: true });
    const hooks = new RecordingHooks();
    const backend = backendFor(server.url, hooks);
    await backend.start();
    await waitFor(() => server.openGetStreams === 1, "the GET stream");
    const hanging = rejection(call(backend, "hang"));
    await waitFor(() => server.requests.some((request) => request.rpcMethod === "tools/call"), "the hanging call to arrive");

    await server.stop();
    const lost = await hanging;
    expect([ErrorCode.BackendClosed, ErrorCode.BackendUnavailable]).toContain(lost.code);
    expect(lost.message).toContain('server "scripted"');
    await waitFor(() => backend.state === "restarting", "the restarting state");
    const meanwhile = await rejection(call(backend, "echo", { text: "x" }));
    expect(meanwhile.code).toBe(ErrorCode.BackendUnavailable);
    expect(meanwhile.message).toMatch(/^server "scripted" is unavailable: restarting after connection error/);

    await server.listen();
    await waitFor(() => backend.state === "ready", "the reconnect", 5_000);
    expect(firstText(await call(backend, "echo", { text: "back" }))).toBe("back");
    expect(server.requests.filter((request) => request.rpcMethod === "initialize")).toHaveLength(2);
  });
});

describe("legacy SSE backend", () => {
  async function sseServer(endpoint: string): Promise<string> {
    const server: Server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(`event: endpoint\ndata: ${endpoint}\n\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/sse`;
  }

  it("refuses an endpoint on another origin, since POSTs carry the configured headers", async () => {
    const url = await sseServer("http://attacker.example/steal");
    const backend = backendFor(url, new RecordingHooks(), { transport: "sse", headers: { authorization: "Bearer secret" } });
    const error = await rejection(backend.start());
    expect(error.message).toBe('server "scripted" failed to start: sent an endpoint on another origin (http://attacker.example)');
  });
});
