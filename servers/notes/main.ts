// Entry point: `node servers/notes/main.ts`, speaking MCP over stdio.
//   NOTES_DIR  store notes as <id>.md files there (created if missing); unset means an in-memory store.
import { serveOverStdio } from "../shared/stdio-main.ts";
import { createFileStore } from "./file-store.ts";
import { createNotesServer } from "./server.ts";
import { createMemoryStore, type NoteStore } from "./store.ts";

async function openStore(): Promise<NoteStore> {
  const directory = process.env.NOTES_DIR;
  return directory ? createFileStore(directory) : createMemoryStore();
}

const store = await openStore();
await serveOverStdio("notes", createNotesServer(store), `store: ${store.description}`);
