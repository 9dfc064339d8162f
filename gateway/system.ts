/** Tiny OS facts shared by stages that must not import each other (audit's lock, the container janitor, volumes). */
import path from "node:path";

/** Whether `child` is `root` or lies below it (lexically: resolve symlinks first where they matter). */
export function isInside(child: string, root: string): boolean {
  const relative = path.relative(root, child);
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/** Whether a process with this pid exists on this host (EPERM: it exists, but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
