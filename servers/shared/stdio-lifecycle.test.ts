// Process behaviour that matters once a server runs as a container's PID 1 behind the gateway's supervisor:
// stdout carries only JSON-RPC, and SIGTERM, SIGINT and a closed stdin all end the process promptly with 0.
import { describe, expect, it } from "vitest";
import {
  exitCodeOf,
  initializedNotification,
  initializeRequest,
  serverMain,
  startRawServer,
  stdoutMessages,
  waitFor,
} from "./test-client.ts";

describe.each(["notes", "probe", "clock"])("%s server process", (name) => {
  const entry = serverMain(name);

  it("writes only newline-delimited JSON-RPC to stdout, and exits 0 when stdin closes", async () => {
    const server = startRawServer(entry, ["NOTES_DIR"]);
    server.send(initializeRequest);
    server.send(initializedNotification);
    server.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    await waitFor(() => server.stdout().split("\n").filter(Boolean).length >= 2, 10_000);
    server.child.stdin.end();
    expect(await exitCodeOf(server.child, 5000)).toBe(0);

    const messages = stdoutMessages(server);
    expect(messages.map((message) => message.id)).toEqual([1, 2]);
    expect(messages[0]?.result?.protocolVersion).toBe("2025-11-25");
    expect(messages[0]?.result?.serverInfo).toMatchObject({ name: `gatehouse-${name}` });
    expect((messages[1]?.result?.tools as unknown[]).length).toBeGreaterThan(0);
    expect(server.stderr()).toContain(`${name}: ready on stdio`);
    expect(server.stderr()).toContain("shutting down (stdin closed)");
  });

  it.each(["SIGTERM", "SIGINT"] as const)("exits 0 promptly on %s", async (signal) => {
    const server = startRawServer(entry, ["NOTES_DIR"]);
    await waitFor(() => server.stderr().includes("ready on stdio"), 10_000);
    server.child.kill(signal);
    expect(await exitCodeOf(server.child, 5000)).toBe(0);
    expect(server.stderr()).toContain(`shutting down (${signal})`);
  });
});
