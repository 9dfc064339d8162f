// Validates the Python interop client against the reference server directly, before it is used through the gateway.
import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort as findFreePort, startEverything, type RunningEverything as EverythingServer } from "../fixtures/everything.ts";
import { PythonClientError, runPythonClient } from "./python.ts";

/** A pass-through HTTP proxy that remembers the headers of every request, to prove what the client sent. */
function startRecordingProxy(target: URL): Promise<{ url: string; seen: IncomingHttpHeaders[]; server: Server }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    const upstream = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      resolve({ url: `http://127.0.0.1:${port}/mcp`, seen, server });
    });
  });
}

describe("python mcp client against server-everything (Streamable HTTP)", () => {
  let everything: EverythingServer;

  beforeAll(async () => {
    everything = await startEverything("streamableHttp");
  });
  afterAll(async () => {
    await everything?.close();
  });

  it("initializes (auto mode: discover probe, then initialize), lists tools and calls echo", async () => {
    const report = await runPythonClient(everything.url, "echo", { message: "hello from python" });
    expect(report.protocolVersion).toBe("2025-11-25");
    expect(report.serverName).toBe("mcp-servers/everything");
    expect(report.tools).toContain("echo");
    expect(report.tools).toContain("get-sum");
    expect(report.call.isError).toBe(false);
    expect(report.call.content).toEqual([{ type: "text", text: "Echo: hello from python" }]);
  });

  it("works in legacy mode (initialize handshake only)", async () => {
    const report = await runPythonClient(everything.url, "echo", { message: "legacy" }, { GATEHOUSE_PY_MODE: "legacy" });
    expect(report.protocolVersion).toBe("2025-11-25");
    expect(report.call.content?.[0]?.text).toBe("Echo: legacy");
  });

  it("reports a tool error result (not a crash) for invalid arguments", async () => {
    const report = await runPythonClient(everything.url, "echo", { wrong: 1 });
    expect(report.call.isError).toBe(true);
    expect(report.call.content?.[0]?.text).toMatch(/message/);
  });

  it("sends GATEHOUSE_TOKEN as a bearer token on every request", async () => {
    const proxy = await startRecordingProxy(new URL(everything.url));
    try {
      const report = await runPythonClient(proxy.url, "echo", { message: "via proxy" }, { GATEHOUSE_TOKEN: "tok-123" });
      expect(report.call.content?.[0]?.text).toBe("Echo: via proxy");
      // initialize, initialized, tools/list, tools/call at least (plus the discover probe, GET stream, DELETE).
      expect(proxy.seen.length).toBeGreaterThanOrEqual(4);
      for (const headers of proxy.seen) expect(headers.authorization).toBe("Bearer tok-123");
    } finally {
      proxy.server.closeAllConnections();
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });

  it("sends no Authorization header without GATEHOUSE_TOKEN", async () => {
    const proxy = await startRecordingProxy(new URL(everything.url));
    try {
      await runPythonClient(proxy.url, "echo", { message: "anon" }, { GATEHOUSE_TOKEN: "" });
      expect(proxy.seen.length).toBeGreaterThanOrEqual(4);
      for (const headers of proxy.seen) expect(headers.authorization).toBeUndefined();
    } finally {
      proxy.server.closeAllConnections();
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });

  it("rejects with the client's stderr message when nothing listens", async () => {
    const closedPort = await findFreePort();
    const failure = await runPythonClient(`http://127.0.0.1:${closedPort}/mcp`, "echo", {}).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(PythonClientError);
    expect((failure as PythonClientError).exitCode).toBe(1);
    expect((failure as PythonClientError).stderr).toMatch(/python_client failed: .*Connect/);
  });

  it("enforces its timeout on a server that never answers", async () => {
    const silent = createServer(() => {
      /* accept and never respond */
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    try {
      const started = Date.now();
      const failure = await runPythonClient(`http://127.0.0.1:${port}/mcp`, "echo", {}, {}, { timeoutMs: 3000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(PythonClientError);
      expect((failure as Error).message).toMatch(/timed out after 3000 ms/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
