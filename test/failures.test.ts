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

  it("while a server is down its tools fail fast with BackendUnavailable naming it, not a hang", async () => {
    const down = await startGateway(`
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
  - { name: steady, transport: stdio, command: node, args: ["${FLAKY}"] }
`);
    try {
      const c = await connectClient(down.url);
      await down.gateway.backend("flaky")!.stop();
      const started = Date.now();
      await expect(c.callTool({ name: "flaky__echo", arguments: { text: "x" } })).rejects.toThrow(/server "flaky" is unavailable/);
      expect(Date.now() - started).toBeLessThan(1000);
      const steady = await c.callTool({ name: "steady__echo", arguments: { text: "fine" } });
      expect(JSON.stringify(steady.content)).toContain("fine");
      await c.close();
    } finally {
      await down.close();
    }
  });

  it("a hanging backend gets a timeout error naming the server and the limit", async () => {
    await expect(client.callTool({ name: "flaky__hang", arguments: {} })).rejects.toThrow(/server "flaky" did not answer tools\/call within 1500 ms/);
    const after = await client.callTool({ name: "flaky__echo", arguments: { text: "alive" } });
    expect(JSON.stringify(after.content)).toContain("alive");
  });

});
