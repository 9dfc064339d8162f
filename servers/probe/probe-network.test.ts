// connect and crash: the network answer as a result rather than an error, and a process that dies on request.
import { createServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectionProbe } from "../shared/connection-probe.ts";
import {
  connectStdioServer,
  exitCodeOf,
  firstText,
  initializedNotification,
  initializeRequest,
  listenOnLoopback,
  serverMain,
  startRawServer,
  stdoutMessages,
  waitFor,
  type StdioServerConnection,
} from "../shared/test-client.ts";

const probeMain = serverMain("probe");

describe("connect", () => {
  let probe: StdioServerConnection;
  const connect = async (args: Record<string, unknown>) => {
    const result = await probe.client.callTool({ name: "connect", arguments: args });
    return { result, report: result.structuredContent as unknown as ConnectionProbe };
  };

  beforeAll(async () => {
    probe = await connectStdioServer(probeMain);
  });
  afterAll(async () => {
    await probe?.close();
  });

  it("connects to a loopback port that listens, by tcp:// and by http:// URL", async () => {
    const sockets: Socket[] = [];
    const listener = createServer((socket) => void sockets.push(socket));
    const port = await listenOnLoopback(listener);
    try {
      const { result, report } = await connect({ url: `tcp://127.0.0.1:${port}` });
      expect(result.isError).toBeFalsy();
      expect(report).toMatchObject({ outcome: "connected", host: "127.0.0.1", port, remoteAddress: "127.0.0.1" });
      expect((await connect({ url: `http://127.0.0.1:${port}/x` })).report.outcome).toBe("connected");
      await waitFor(() => sockets.length === 2);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it("reports ECONNREFUSED for a closed port", async () => {
    const closed = createServer();
    const port = await listenOnLoopback(closed);
    await new Promise((resolve) => closed.close(resolve));
    const { result, report } = await connect({ url: `tcp://127.0.0.1:${port}` });
    expect(result.isError).toBeFalsy();
    expect(report).toMatchObject({ outcome: "error", code: "ECONNREFUSED", port });
    expect(firstText(result)).toMatch(/^error ECONNREFUSED: /);
  });

  it("refuses schemes other than tcp, http(s) and ws(s)", async () => {
    for (const url of ["ftp://127.0.0.1/", "file:///etc/passwd", "127.0.0.1:80"]) {
      const { result } = await connect({ url });
      expect(result.isError, url).toBe(true);
      expect(firstText(result)).toMatch(/Input validation error/);
    }
  });
});

describe("crash", () => {
  it.each([
    [{ exitCode: 42 }, 42],
    [{}, 70],
  ])("with %j exits the process with %i and answers nothing", async (args, expectedCode) => {
    const server = startRawServer(probeMain);
    server.send(initializeRequest);
    server.send(initializedNotification);
    server.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "crash", arguments: args } });
    expect(await exitCodeOf(server.child, 10_000)).toBe(expectedCode);
    expect(stdoutMessages(server).map((message) => message.id)).toEqual([1]);
    expect(server.stderr()).toContain(`probe: crashing on request (exit code ${expectedCode})`);
  });

  it("closes the SDK client's transport, failing the pending call", async () => {
    const probe = await connectStdioServer(probeMain);
    let closed = false;
    probe.client.onclose = () => void (closed = true);
    await expect(probe.client.callTool({ name: "crash", arguments: { exitCode: 3 } })).rejects.toThrow(/closed/i);
    await waitFor(() => closed);
    expect(probe.stderr()).toContain("exit code 3");
  });
});
