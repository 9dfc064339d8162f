// Test helper (not a test): spawns one of our servers over real stdio, either behind the SDK Client or as a raw
// child process for tests that care about bytes on stdout, signals and exit codes.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import type { Server } from "node:net";
import { fileURLToPath } from "node:url";

/** The entry point of servers/<name>/, e.g. serverMain("notes"). */
export function serverMain(name: string): string {
  return fileURLToPath(new URL(`../${name}/main.ts`, import.meta.url));
}

export interface StdioServerConnection {
  client: Client;
  transport: StdioClientTransport;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Added to the SDK's minimal environment; nothing else from ours is inherited (no stray NOTES_DIR). */
  env?: Record<string, string>;
  clientName?: string;
}

export async function connectStdioServer(entry: string, options: ConnectOptions = {}): Promise<StdioServerConnection> {
  const env: Record<string, string> = { ...getDefaultEnvironment(), ...options.env };
  const transport = new StdioClientTransport({ command: process.execPath, args: [entry], env, stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const client = new Client({ name: options.clientName ?? "servers-test", version: "0.0.0" });
  await client.connect(transport);
  return { client, transport, stderr: () => stderr, close: () => client.close() };
}

/** The first text block of a tool result, or "" when there is none. */
export function firstText(result: object): string {
  // callTool's declared result also admits the legacy { toolResult } shape, hence the loose parameter type.
  const content = ((result as { content?: unknown }).content ?? []) as Array<{ type: string; text?: string }>;
  return content.find((block) => block.type === "text")?.text ?? "";
}

/** Resolves once `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Starts `server` listening on an ephemeral 127.0.0.1 port and resolves with that port. */
export function listenOnLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : 0);
    });
  });
}

export interface RawServer {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Writes one newline-delimited JSON-RPC message to the server's stdin. */
  send(message: object): void;
}

/** Starts the server as a plain child process with our environment minus `unset`. */
export function startRawServer(entry: string, unset: string[] = []): RawServer {
  const env = { ...process.env };
  for (const name of unset) delete env[name];
  const child = spawn(process.execPath, [entry], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    send: (message) => void child.stdin.write(`${JSON.stringify(message)}\n`),
  };
}

/** The child's exit code once it exits; SIGKILLs it and rejects when it is still running after `timeoutMs`. */
export function exitCodeOf(child: ChildProcessWithoutNullStreams, timeoutMs: number): Promise<number | null> {
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

export const initializeRequest = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
};

export const initializedNotification = { jsonrpc: "2.0", method: "notifications/initialized" };

/** The JSON-RPC messages written to stdout so far, one per line. */
export function stdoutMessages(server: RawServer): Array<{ id?: number; result?: Record<string, unknown>; error?: unknown }> {
  return server.stdout().split("\n").filter(Boolean).map((line) => JSON.parse(line));
}
