// Each note is a resource at notes://note/{id}: listed through the template's list callback, readable by
// template match, completable by id prefix, and subscribable (resources/subscribe is not wrapped by McpServer,
// so it is wired on the underlying Server).
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  ErrorCode,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { isNoteId, NOTE_URI_TEMPLATE, noteIdFromUri, noteUri } from "./note-id.ts";
import type { NoteStore } from "./store.ts";
import type { NoteChange } from "./tools.ts";

const MIME_TYPE = "text/markdown";
const MAX_COMPLETIONS = 100;

export interface NoteResources {
  /** Tells subscribers and list watchers about a change made through the tools. */
  noteChanged(id: string, change: NoteChange): Promise<void>;
  /** The URIs clients subscribed to, for tests and diagnostics. */
  subscriptions(): ReadonlySet<string>;
}

export function registerNoteResources(server: McpServer, store: NoteStore): NoteResources {
  const subscribed = new Set<string>();

  const template = new ResourceTemplate(NOTE_URI_TEMPLATE, {
    list: async () => ({
      resources: (await store.list()).map((note) => ({
        uri: noteUri(note.id),
        name: note.id,
        title: `Note ${note.id}`,
        mimeType: MIME_TYPE,
        size: note.bytes,
      })),
    }),
    complete: {
      id: async (prefix) =>
        (await store.list())
          .map((note) => note.id)
          .filter((id) => id.startsWith(prefix))
          .slice(0, MAX_COMPLETIONS),
    },
  });

  server.registerResource(
    "note",
    template,
    { title: "A note", description: "One note's text, by id", mimeType: MIME_TYPE },
    async (uri, variables) => {
      const id = variables.id;
      // The template matches any non-slash run, so "..", "%2e%2e" and friends arrive here and must be refused.
      if (!isNoteId(id)) throw new McpError(ErrorCode.InvalidParams, `invalid note id in ${uri.href}`);
      const note = await store.read(id);
      if (!note) throw new McpError(ErrorCode.InvalidParams, `note ${id} does not exist`);
      return { contents: [{ uri: noteUri(id), mimeType: MIME_TYPE, text: note.text }] };
    },
  );

  server.server.registerCapabilities({ resources: { subscribe: true, listChanged: true } });
  server.server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    const uri = request.params.uri;
    // Subscribing to a note that does not exist yet is allowed: its creation is an update worth hearing about.
    if (noteIdFromUri(uri) === undefined) throw new McpError(ErrorCode.InvalidParams, `not a note URI: ${uri}`);
    subscribed.add(uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscribed.delete(request.params.uri);
    return {};
  });

  return {
    async noteChanged(id, change) {
      const uri = noteUri(id);
      if (subscribed.has(uri)) await server.server.sendResourceUpdated({ uri });
      if (change !== "updated") server.sendResourceListChanged();
    },
    subscriptions: () => subscribed,
  };
}
