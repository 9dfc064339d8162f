/**
 * One writer per audit directory: two would fork the chain. The lock file holds the owner's pid; a lock whose
 * process is gone (SIGKILL) is stale and taken over.
 */
import { open, readFile, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { isProcessAlive as alive } from "../system.ts";

const LOCK_FILE = "writer.lock";
/** Directories held by this process: a pid check cannot tell two writers in one process apart. */
const heldHere = new Set<string>();

export interface DirectoryLock {
  release(): Promise<void>;
}


export async function acquireLock(dir: string): Promise<DirectoryLock> {
  const key = path.resolve(dir);
  const file = path.join(key, LOCK_FILE);
  if (heldHere.has(key)) throw new Error(`audit directory ${dir} is already open in this process`);
  // Claimed before the first await: two concurrent opens in this process would otherwise both find the other's
  // lock file holding this pid, take it for a stale one, and both go on.
  heldHere.add(key);
  try {
    await createLockFile(dir, file);
  } catch (error) {
    heldHere.delete(key);
    throw error;
  }
  return {
    release: async () => {
      heldHere.delete(key);
      await unlink(file).catch(() => {});
    },
  };
}

async function createLockFile(dir: string, file: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, "wx", 0o600);
      await handle.writeFile(`${process.pid} ${hostname()}`);
      await handle.close();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const [pidText = "", host] = (await readFile(file, "utf8").catch(() => "")).trim().split(" ");
      const owner = Number(pidText);
      // A pid means nothing on another host (every container is pid 1): a lock from elsewhere is never stale to us.
      if (host !== undefined && host !== hostname()) {
        throw new Error(`audit directory ${dir} is locked by process ${owner} on host ${host} (${file}); give each replica its own audit.dir, or remove the lock if that gateway is gone`);
      }
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new Error(`audit directory ${dir} is in use by process ${owner} (${file}); give each replica its own audit.dir`);
      }
      await unlink(file).catch(() => {});
    }
  }
  throw new Error(`could not lock audit directory ${dir}`);
}
