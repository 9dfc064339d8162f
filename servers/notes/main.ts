// Entry point: `node servers/notes/main.ts`, speaking MCP over stdio.
//   NOTES_DIR  store notes as <id>.md files there (created if missing); unset means an in-memory store.
// Logs go to stderr only: stdout belongs to the protocol.
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createFileStore } from "./file-store.ts";
import { createNotesServer } from "./server.ts";
import { createMemoryStore, type NoteStore } from "./store.ts";

async function openStore(): Promise<NoteStore> {
  const directory = process.env.NOTES_DIR;
  return directory ? createFileStore(directory) : createMemoryStore();
}

const store = await openStore();
const server = createNotesServer(store);
const transport = new StdioServerTransport();

let shuttingDown = false;
async function shutdown(reason: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  console.error(`notes: shutting down (${reason})`);
  await server.close().catch(() => undefined);
  process.exit(0);
}

// As PID 1 in a container, signals have no default action: without these handlers `docker stop` would wait
// for its timeout and then SIGKILL.
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
// The client closing our stdin is the normal end of a stdio session.
process.stdin.once("end", () => void shutdown("stdin closed"));

await server.connect(transport);
console.error(`notes: ready on stdio (store: ${store.description})`);
