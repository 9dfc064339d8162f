// Test helper (not a test): spawns servers/notes/main.ts over real stdio and connects the SDK Client to it.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { fileURLToPath } from "node:url";

export const notesMain = fileURLToPath(new URL("./main.ts", import.meta.url));

export interface NotesConnection {
  client: Client;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  close(): Promise<void>;
}

/** `notesDir` selects the file store; without it the server runs on its in-memory store. */
export async function connectNotesServer(options: { notesDir?: string } = {}): Promise<NotesConnection> {
  // Only the SDK's minimal environment plus what we choose: an inherited NOTES_DIR must not leak into a test.
  const env: Record<string, string> = { ...getDefaultEnvironment() };
  if (options.notesDir) env.NOTES_DIR = options.notesDir;
  const transport = new StdioClientTransport({ command: process.execPath, args: [notesMain], env, stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const client = new Client({ name: "notes-test", version: "0.0.0" });
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
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
