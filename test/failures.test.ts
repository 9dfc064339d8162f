/** A backend that crashes or hangs fails only its own calls, with an error that names it, and comes back. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { FLAKY, connectClient, startGateway, waitFor, type RunningGateway } from "./helpers/gateway.ts";

let gw: RunningGateway;
let client: Client;

beforeAll(async () => {
  gw = await startGateway(`
servers:
  - name: flaky
    transport: stdio
    command: node
    args: ["${FLAKY}"]
    timeoutMs: 1500
  - name: steady
    transport: stdio
    command: node
    args: ["${FLAKY}", "--name", "steady"]
`);
  client = await connectClient(gw.url);
});

afterAll(async () => {
  await client?.close();
  await gw?.close();
});

describe("backend failures", () => {
  it("a crash mid-call is a clean error naming the server; the server restarts and serves again", async () => {
    const pidBefore = gw.gateway.backend("flaky");
    expect(pidBefore?.state).toBe("ready");
    await expect(client.callTool({ name: "flaky__crash", arguments: {} })).rejects.toThrow(/server "flaky".*(exited|closed|unavailable)/i);
    // Meanwhile the other server is unaffected.
    const steady = await client.callTool({ name: "steady__echo", arguments: { text: "still here" } });
    expect(JSON.stringify(steady.content)).toContain("still here");
    await waitFor(() => (gw.gateway.backend("flaky")?.state === "ready" ? true : undefined), 15_000, "flaky to restart");
    const after = await client.callTool({ name: "flaky__echo", arguments: { text: "back" } });
    expect(JSON.stringify(after.content)).toContain("back");
  });

  it("while a server restarts its tools fail fast with BackendUnavailable, not a hang", async () => {
    const crash = client.callTool({ name: "flaky__crash", arguments: {} }).catch(() => undefined);
    await crash;
    const started = Date.now();
    const error = await client.callTool({ name: "flaky__echo", arguments: { text: "x" } }).then(
      () => undefined,
      (e: Error) => e,
    );
    // Either it already came back (fast restart) or it failed fast naming the server.
    if (error !== undefined) {
      expect(error.message).toMatch(/server "flaky"/);
      expect(Date.now() - started).toBeLessThan(1000);
    }
    await waitFor(() => (gw.gateway.backend("flaky")?.state === "ready" ? true : undefined), 15_000, "flaky to restart");
  });

  it("a hanging backend gets a timeout error naming the server and the limit", async () => {
    await expect(client.callTool({ name: "flaky__hang", arguments: {} })).rejects.toThrow(/server "flaky" did not answer tools\/call within 1500 ms/);
    const after = await client.callTool({ name: "flaky__echo", arguments: { text: "alive" } });
    expect(JSON.stringify(after.content)).toContain("alive");
  });

  it("a client's cancel reaches the backend: the call ends as cancelled", async () => {
    const controller = new AbortController();
    const pending = client.callTool({ name: "flaky__hang", arguments: {} }, undefined, { signal: controller.signal, timeout: 5000 });
    await waitFor(() => (gw.gateway.dispatcher.inflight.size > 0 ? true : undefined), 5000, "the call to be in flight");
    controller.abort("changed my mind");
    await expect(pending).rejects.toThrow();
    await waitFor(() => (gw.gateway.dispatcher.inflight.size === 0 ? true : undefined), 5000, "the gateway to drop the call");
  });
});
