// Tries to create a file and reports what the filesystem said. Proves a read-only root (EROFS), a missing or
// masked directory (ENOENT) or a permission wall (EACCES) from inside the sandbox. It only ever creates a new
// file ("wx": an existing file is refused with EEXIST, never overwritten) and removes what it wrote.
import { unlink, writeFile } from "node:fs/promises";

export interface WriteProbe {
  path: string;
  outcome: "written" | "error";
  /** The errno code when outcome is "error", e.g. EROFS, EACCES, ENOENT, EEXIST. */
  code?: string;
  message: string;
}

const PROBE_CONTENT = "gatehouse probe: safe to delete\n";

export async function probeWrite(path: string): Promise<WriteProbe> {
  try {
    await writeFile(path, PROBE_CONTENT, { flag: "wx", mode: 0o600 });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return { path, outcome: "error", code: code ?? "EUNKNOWN", message };
  }
  const bytes = Buffer.byteLength(PROBE_CONTENT);
  try {
    await unlink(path);
    return { path, outcome: "written", message: `wrote ${bytes} bytes, then removed the file` };
  } catch (error) {
    // The write is the answer; a file we could not remove is worth saying, not worth failing over.
    const { code } = error as NodeJS.ErrnoException;
    return { path, outcome: "written", message: `wrote ${bytes} bytes, but could not remove the file (${code})` };
  }
}
