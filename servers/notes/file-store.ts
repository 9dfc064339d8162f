// Notes as `<id>.md` files in one directory. Writes go to a temp file and are renamed into place, so a
// reader (or a crash) never sees half a note.
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { isNoteId } from "./note-id.ts";
import { assertNoteId, byId, type Note, type NoteStore, type NoteSummary } from "./store.ts";

const EXTENSION = ".md";

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

export async function createFileStore(directory: string): Promise<NoteStore> {
  const root = resolve(directory);
  await mkdir(root, { recursive: true });

  // Defence in depth: even if an id slipped past validation, the resolved path must stay directly in root.
  function pathOf(id: string): string {
    assertNoteId(id);
    const path = resolve(root, `${id}${EXTENSION}`);
    if (!path.startsWith(root + sep) || path.slice(root.length + 1).includes(sep)) {
      throw new Error(`note path escapes the notes directory: ${id}`);
    }
    return path;
  }

  async function summary(id: string): Promise<NoteSummary | undefined> {
    try {
      const info = await stat(pathOf(id));
      return info.isFile() ? { id, bytes: info.size, updatedAt: info.mtime.toISOString() } : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  return {
    description: `dir:${root}`,
    async list() {
      const names = await readdir(root);
      const ids = names
        .filter((name) => name.endsWith(EXTENSION))
        .map((name) => name.slice(0, -EXTENSION.length))
        // Files that could not have been written through this server (temp files, strays) are not notes.
        .filter(isNoteId);
      const summaries = await Promise.all(ids.map(summary));
      return summaries.filter((note): note is NoteSummary => note !== undefined).sort(byId);
    },
    async read(id) {
      const path = pathOf(id);
      try {
        const [text, info] = await Promise.all([readFile(path, "utf8"), stat(path)]);
        return { id, text, bytes: info.size, updatedAt: info.mtime.toISOString() } satisfies Note;
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    async write(id, text) {
      const path = pathOf(id);
      const created = (await summary(id)) === undefined;
      // The temp name starts with "." so list() never mistakes it for a note.
      const temp = resolve(root, `.${id}.${randomBytes(6).toString("hex")}.tmp`);
      await writeFile(temp, text, { encoding: "utf8", mode: 0o600 });
      try {
        await rename(temp, path);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      const note = await summary(id);
      if (!note) throw new Error(`note ${id} vanished right after being written`);
      return { created, note };
    },
    async delete(id) {
      try {
        await rm(pathOf(id));
        return true;
      } catch (error) {
        if (isMissing(error)) return false;
        throw error;
      }
    },
  };
}
