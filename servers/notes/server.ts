// Assembles the notes McpServer from its parts. Transport-agnostic: main.ts connects it to stdio, tests may
// connect it to anything.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { registerNotePrompts } from "./prompts.ts";
import { registerNoteResources } from "./resources.ts";
import type { NoteStore } from "./store.ts";
import { registerNoteTools } from "./tools.ts";

export const NOTES_SERVER_NAME = "gatehouse-notes";
export const NOTES_SERVER_VERSION = "0.1.0";

export function createNotesServer(store: NoteStore): McpServer {
  const server = new McpServer(
    { name: NOTES_SERVER_NAME, version: NOTES_SERVER_VERSION },
    {
      instructions: "Notes are short Markdown texts addressed by id. Read them as notes://note/{id} resources.",
      // Bounds the work one tools/call argument object can cause before any handler runs.
      maxToolInputElements: 1000,
    },
  );
  const resources = registerNoteResources(server, store);
  registerNoteTools(server, store, resources.noteChanged);
  registerNotePrompts(server, store);
  return server;
}
