// fetch_url over real stdio: it must answer with a clear outcome, never throw, whatever the network does.
import { createServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectionProbe } from "../shared/connection-probe.ts";
import {
  connectStdioServer,
  firstText,
  listenOnLoopback,
  serverMain,
  waitFor,
  type StdioServerConnection,
} from "../shared/test-client.ts";

const notesMain = serverMain("notes");

describe("fetch_url", () => {
  let notes: StdioServerConnection;
  const probe = async (args: Record<string, unknown>) => {
    const result = await notes.client.callTool({ name: "fetch_url", arguments: args });
    return { result, probe: result.structuredContent as unknown as ConnectionProbe };
  };

  beforeAll(async () => {
    notes = await connectStdioServer(notesMain);
  });
  afterAll(async () => {
    await notes?.close();
  });

  it("reports connected, and sends nothing, when something listens", async () => {
    let received = 0;
    const sockets: Socket[] = [];
    const listener = createServer((socket) => {
      sockets.push(socket);
      socket.on("data", (chunk) => (received += chunk.length));
    });
    const port = await listenOnLoopback(listener);
    try {
      const { result, probe: report } = await probe({ url: `http://127.0.0.1:${port}/some/path?q=1` });
      expect(result.isError).toBeFalsy();
      expect(report).toMatchObject({ outcome: "connected", host: "127.0.0.1", port, remoteAddress: "127.0.0.1" });
      expect(report.code).toBeUndefined();
      expect(firstText(result)).toMatch(/^connected: connected to 127\.0\.0\.1:/);
      await waitFor(() => sockets.length === 1);
      expect(received).toBe(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it("reports ECONNREFUSED for a closed port, as a result rather than an error", async () => {
    const closed = createServer();
    const port = await listenOnLoopback(closed);
    await new Promise((resolve) => closed.close(resolve));
    const { result, probe: report } = await probe({ url: `http://127.0.0.1:${port}/` });
    expect(result.isError).toBeFalsy();
    expect(report).toMatchObject({ outcome: "error", code: "ECONNREFUSED", port });
    expect(firstText(result)).toMatch(/^error ECONNREFUSED: /);
  });

  it("reports the resolver's error code for a name that cannot resolve", async () => {
    // .invalid never resolves (RFC 6761). Which code comes back depends on the resolver: no answer (ENOTFOUND),
    // or no resolver reachable at all (EAI_AGAIN, the usual answer inside a --network none container).
    const { result, probe: report } = await probe({ url: "https://gatehouse-test.invalid/", timeoutMs: 10_000 });
    expect(result.isError).toBeFalsy();
    expect(report.outcome).toBe("error");
    expect(report.host).toBe("gatehouse-test.invalid");
    expect(report.port).toBe(443);
    expect(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NONAME"]).toContain(report.code);
  });

  it("uses the scheme's default port and unwraps IPv6 literals", async () => {
    const { probe: http } = await probe({ url: "http://[::1]/" });
    expect(http).toMatchObject({ host: "::1", port: 80 });
    const { probe: wss } = await probe({ url: "wss://127.0.0.1/" });
    expect(wss.port).toBe(443);
  });

  it("rejects what is not an http(s)/ws(s) URL before trying anything", async () => {
    for (const url of ["ftp://127.0.0.1/", "file:///etc/passwd", "not a url", ""]) {
      const { result } = await probe({ url });
      expect(result.isError, url).toBe(true);
      expect(firstText(result)).toMatch(/Input validation error/);
    }
    const { result } = await probe({ url: "http://127.0.0.1/", timeoutMs: 10 });
    expect(result.isError).toBe(true);
  });
});
