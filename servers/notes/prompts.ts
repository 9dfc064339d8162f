import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { noteIdSchema, noteUri } from "./note-id.ts";
import type { NoteStore } from "./store.ts";

export function registerNotePrompts(server: McpServer, store: NoteStore): void {
  server.registerPrompt(
    "summarize-note",
    {
      title: "Summarize a note",
      description: "Asks the model for a short summary of one note; the note is embedded as a resource.",
      argsSchema: { id: noteIdSchema },
    },
    async ({ id }) => {
      const note = await store.read(id);
      if (!note) throw new McpError(ErrorCode.InvalidParams, `note ${id} does not exist`);
      return {
        description: `Summarize note ${id}`,
        messages: [
          {
            role: "user",
            content: {
              type: "text",
              text: `Summarize the note "${id}" below in at most three sentences. Keep names, dates and decisions.`,
            },
          },
          {
            role: "user",
            content: {
              type: "resource",
              resource: { uri: noteUri(id), mimeType: "text/markdown", text: note.text },
            },
          },
        ],
      };
    },
  );
}
