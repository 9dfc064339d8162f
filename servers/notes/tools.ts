// The notes tools. Annotations are part of the point: the gateway's policy reads readOnlyHint, idempotentHint
// and destructiveHint, so each tool declares them honestly.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { registerConnectionProbeTool } from "../shared/connection-probe-tool.ts";
import { noteIdSchema, noteTextSchema } from "./note-id.ts";
import type { NoteStore } from "./store.ts";

export type NoteChange = "created" | "updated" | "deleted";
export type NoteChangeListener = (id: string, change: NoteChange) => Promise<void>;

function text(value: string): CallToolResult {
  return { content: [{ type: "text", text: value }] };
}

function toolError(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}

const noteSummaryShape = z.object({ id: z.string(), bytes: z.number(), updatedAt: z.string() });

export function registerNoteTools(server: McpServer, store: NoteStore, onChange: NoteChangeListener): void {
  server.registerTool(
    "list_notes",
    {
      title: "List notes",
      description: "Lists every note with its size and last update time.",
      annotations: { readOnlyHint: true, openWorldHint: false },
      outputSchema: { notes: z.array(noteSummaryShape) },
    },
    async () => {
      const notes = await store.list();
      const lines = notes.map((note) => `${note.id} (${note.bytes} bytes, updated ${note.updatedAt})`);
      return {
        content: [{ type: "text", text: notes.length ? lines.join("\n") : "(no notes)" }],
        structuredContent: { notes },
      };
    },
  );

  server.registerTool(
    "read_note",
    {
      title: "Read a note",
      description: "Returns the full text of one note.",
      inputSchema: { id: noteIdSchema },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ id }) => {
      const note = await store.read(id);
      return note ? text(note.text) : toolError(`note ${id} does not exist`);
    },
  );

  server.registerTool(
    "write_note",
    {
      title: "Write a note",
      description: "Creates the note, or replaces its whole text. Writing the same text twice changes nothing more.",
      inputSchema: { id: noteIdSchema, text: noteTextSchema },
      annotations: { readOnlyHint: false, idempotentHint: true, destructiveHint: false, openWorldHint: false },
    },
    async ({ id, text: body }) => {
      const { created, note } = await store.write(id, body);
      await onChange(id, created ? "created" : "updated");
      return text(`${created ? "created" : "updated"} note ${id} (${note.bytes} bytes)`);
    },
  );

  server.registerTool(
    "delete_note",
    {
      title: "Delete a note",
      description: "Deletes one note permanently.",
      inputSchema: { id: noteIdSchema },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ id }) => {
      const deleted = await store.delete(id);
      if (!deleted) return toolError(`note ${id} does not exist`);
      await onChange(id, "deleted");
      return text(`deleted note ${id}`);
    },
  );

  server.registerTool(
    "reindex",
    {
      title: "Rebuild the word index",
      description:
        "Reads every note and counts its words. Sends progress notifications when the request carries a progressToken.",
      inputSchema: {
        stepDelayMs: z
          .number()
          .int()
          .min(0)
          .max(1000)
          .optional()
          .describe("Pause between steps (default 0), to make progress observable in tests and demos"),
      },
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
      outputSchema: { notes: z.number(), words: z.number(), distinctWords: z.number() },
    },
    async ({ stepDelayMs }, extra) => {
      const progressToken = extra._meta?.progressToken;
      const summaries = await store.list();
      // One step to scan, one per note, one to build the index: always at least two, usually several.
      const total = summaries.length + 2;
      let step = 0;
      const report = async (message: string) => {
        step += 1;
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken, progress: step, total, message },
          });
        }
        // Yield between steps even without a delay: each notification then leaves in its own write instead of
        // sharing one with the result, which some clients (SDK 1.x) handle out of order.
        await sleep(stepDelayMs ?? 0);
      };

      await report(`found ${summaries.length} notes`);
      const counts = new Map<string, number>();
      let words = 0;
      for (const summary of summaries) {
        if (extra.signal.aborted) return toolError("reindex cancelled");
        const note = await store.read(summary.id);
        for (const word of note?.text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
          counts.set(word, (counts.get(word) ?? 0) + 1);
          words += 1;
        }
        await report(`indexed ${summary.id}`);
      }
      await report(`index built: ${counts.size} distinct words`);
      const result = { notes: summaries.length, words, distinctWords: counts.size };
      return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
    },
  );

  registerConnectionProbeTool(server, "fetch_url", { title: "Probe a network connection", tcp: false });
}
