/** Test support for this folder (no test runner imports here, so fixtures elsewhere can use it too). */
import { readFileSync } from "node:fs";
import type { CatalogKind, JsonObject, JsonRpcNotification, JsonRpcRequest } from "../protocol/index.ts";
import type { BackendHooks, BackendState, CallOwner } from "./types.ts";

export interface ServerRequestRecord {
  message: JsonRpcRequest;
  owners: CallOwner[];
  signal: AbortSignal;
}

type Answer = (record: ServerRequestRecord) => Promise<JsonObject> | JsonObject;

/** Hooks that record everything; server requests are answered by `answer` (replaceable per test). */
export class RecordingHooks implements BackendHooks {
  readonly notifications: Array<{ message: JsonRpcNotification; owner: CallOwner | undefined }> = [];
  readonly serverRequests: ServerRequestRecord[] = [];
  readonly catalogChanges: CatalogKind[][] = [];
  readonly states: Array<{ state: BackendState; detail: string | undefined }> = [];
  answer: Answer = (record) => defaultAnswer(record.message);

  onNotification(_server: string, message: JsonRpcNotification, owner: CallOwner | undefined): void {
    this.notifications.push({ message, owner });
  }

  async onServerRequest(_server: string, message: JsonRpcRequest, owners: CallOwner[], signal: AbortSignal): Promise<JsonObject> {
    const record = { message, owners, signal };
    this.serverRequests.push(record);
    return this.answer(record);
  }

  onCatalogChanged(_server: string, kinds: CatalogKind[]): void {
    this.catalogChanges.push(kinds);
  }

  onStateChanged(_server: string, state: BackendState, detail: string | undefined): void {
    this.states.push({ state, detail });
  }
}

export function defaultAnswer(message: JsonRpcRequest): JsonObject {
  if (message.method === "roots/list") return { roots: [{ uri: "file:///tmp/gatehouse-test", name: "test" }] };
  if (message.method === "elicitation/create") return { action: "accept", content: { answer: "yes" } };
  return { role: "assistant", model: "test-model", content: { type: "text", text: "sampled" } };
}

/** Polls until `check` returns a value other than undefined/false; bounded, so a broken test fails instead of hanging. */
export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Whether the process still runs. A zombie (dead, not yet reaped by its new parent) counts as dead. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; the state letter follows the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** The text of a CallToolResult's first content item. */
export function firstText(result: JsonObject): string {
  const content = result.content as Array<{ type: string; text?: string }> | undefined;
  return content?.[0]?.text ?? "";
}
