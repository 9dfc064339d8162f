// Where notes live. Two implementations behind one interface: in memory (the default, and what tests use)
// and a directory of files (NOTES_DIR), so the container image can mount a volume.
import { isNoteId } from "./note-id.ts";

export interface NoteSummary {
  id: string;
  /** Size of the text in UTF-8 bytes. */
  bytes: number;
  /** ISO 8601 time of the last write. */
  updatedAt: string;
}

export interface Note extends NoteSummary {
  text: string;
}

export interface NoteStore {
  /** A short description for logs, e.g. "memory" or "dir:/data/notes". */
  readonly description: string;
  /** All notes, sorted by id. */
  list(): Promise<NoteSummary[]>;
  read(id: string): Promise<Note | undefined>;
  /** Creates or replaces the note; says which. */
  write(id: string, text: string): Promise<{ created: boolean; note: NoteSummary }>;
  /** Removes the note; false when it did not exist. */
  delete(id: string): Promise<boolean>;
}

/** Stores re-check ids even though the tool schemas already did: the store must be safe on its own. */
export function assertNoteId(id: string): void {
  if (!isNoteId(id)) throw new InvalidNoteIdError(id);
}

export class InvalidNoteIdError extends Error {
  constructor(id: string) {
    super(`invalid note id ${JSON.stringify(id.slice(0, 80))}`);
    this.name = "InvalidNoteIdError";
  }
}

export function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function createMemoryStore(): NoteStore {
  const notes = new Map<string, Note>();
  return {
    description: "memory",
    async list() {
      return [...notes.values()].map(({ id, bytes, updatedAt }) => ({ id, bytes, updatedAt })).sort(byId);
    },
    async read(id) {
      assertNoteId(id);
      const note = notes.get(id);
      return note ? { ...note } : undefined;
    },
    async write(id, text) {
      assertNoteId(id);
      const created = !notes.has(id);
      const note: Note = { id, text, bytes: Buffer.byteLength(text, "utf8"), updatedAt: new Date().toISOString() };
      notes.set(id, note);
      return { created, note: { id, bytes: note.bytes, updatedAt: note.updatedAt } };
    },
    async delete(id) {
      assertNoteId(id);
      return notes.delete(id);
    },
  };
}
