// The official Python `mcp` client (PyPI) listing and calling tools through the gateway, in both protocol families.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVERYTHING, FLAKY, startGateway, type RunningGateway } from "../helpers/gateway.ts";
import { runPythonClient } from "./python.ts";

let gw: RunningGateway;

beforeAll(async () => {
  gw = await startGateway(`
http: { pageSize: 10 }
servers:
  - name: everything
    transport: stdio
    command: node
    args: ["${EVERYTHING}", "stdio"]
  - name: flaky
    transport: stdio
    command: node
    args: ["${FLAKY}"]
`);
});

afterAll(async () => {
  await gw?.close();
});

describe("python mcp client through the gateway", () => {
  // The SDK's default probes with server/discover: the gateway answers it, so the client speaks 2026-07-28.
  it.each([
    ["auto (2026-07-28, stateless)", "auto", "2026-07-28"],
    ["legacy (initialize, a 2025 session)", "legacy", "2025-11-25"],
  ])("%s: lists every page of the merged tools and calls a prefixed tool", async (_label, mode, version) => {
    const report = await runPythonClient(gw.url, "everything__echo", { message: "from python" }, { GATEHOUSE_PY_MODE: mode });
    expect(report.serverName).toBe("gatehouse");
    expect(report.protocolVersion).toBe(version);
    expect(report.tools).toContain("everything__echo");
    expect(report.tools).toContain("flaky__echo");
    // more tools than one page holds: the client followed the gateway's cursors
    expect(report.tools.length).toBeGreaterThan(10);
    expect(new Set(report.tools).size).toBe(report.tools.length);
    expect(JSON.stringify(report.call.content)).toContain("from python");
  });

  it("gets the gateway's error for an unknown tool", async () => {
    await expect(runPythonClient(gw.url, "nope__nothing", {})).rejects.toThrow(/Unknown tool: nope__nothing/);
  });
});
