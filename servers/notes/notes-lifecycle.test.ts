// Process behaviour that matters once the server runs as a container's PID 1 behind the gateway's supervisor:
// stdout carries only JSON-RPC, and both SIGTERM and a closed stdin end the process promptly and cleanly.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { describe, expect, it } from "vitest";
import { notesMain, waitFor } from "./test-client.ts";

function startRaw(): { child: ChildProcessWithoutNullStreams; stdout: () => string; stderr: () => string } {
  const env = { ...process.env };
  delete env.NOTES_DIR;
  const child = spawn(process.execPath, [notesMain], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return { child, stdout: () => stdout, stderr: () => stderr };
}

function exited(child: ChildProcessWithoutNullStreams, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`still running after ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
};

describe("notes server process", () => {
  it("writes only newline-delimited JSON-RPC to stdout, and exits 0 when stdin closes", async () => {
    const { child, stdout, stderr } = startRaw();
    child.stdin.write(`${JSON.stringify(initialize)}\n`);
    child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
    child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" })}\n`);
    await waitFor(() => stdout().split("\n").filter(Boolean).length >= 2, 10_000);
    child.stdin.end();
    expect(await exited(child, 5000)).toBe(0);

    const lines = stdout().split("\n").filter(Boolean);
    const messages = lines.map((line) => JSON.parse(line) as { id?: number; result?: Record<string, unknown> });
    expect(messages.map((message) => message.id)).toEqual([1, 2]);
    expect(messages[0]?.result?.protocolVersion).toBe("2025-11-25");
    expect(stderr()).toContain("notes: ready on stdio");
    expect(stderr()).toContain("shutting down (stdin closed)");
  });

  it("exits 0 promptly on SIGTERM", async () => {
    const { child, stderr } = startRaw();
    await waitFor(() => stderr().includes("ready on stdio"), 10_000);
    child.kill("SIGTERM");
    expect(await exited(child, 5000)).toBe(0);
    expect(stderr()).toContain("shutting down (SIGTERM)");
  });
});
