/** Tiny OS facts shared by stages that must not import each other (audit's lock, the container janitor, volumes). */
import path from "node:path";

/** Whether `child` is `root` or lies below it (lexically: resolve symlinks first where they matter). */
export function isInside(child: string, root: string): boolean {
  const relative = path.relative(root, child);
  return relative === "" || (relative !== ".." && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/** Where the gateway keeps what no server may see: its dataDir (keys, locks) and its audit log. */
export interface GatewayState {
  dataDir: string;
  auditDir: string;
}

/**
 * Which part of the gateway's own state a volume would expose, if any: dataDir unless the volume lies in
 * `<dataDir>/volumes/`, the place for server data there, and the audit log wherever it is. Lexical: config load
 * calls it on the paths as written, the container layer again on the real paths.
 */
export function gatewayStateIn(volume: string, state: GatewayState): string | undefined {
  const { dataDir, auditDir } = state;
  if (isInside(dataDir, volume) || (isInside(volume, dataDir) && !isInside(volume, path.join(dataDir, "volumes")))) return `dataDir ${dataDir}`;
  if (isInside(auditDir, volume) || isInside(volume, auditDir)) return `audit log ${auditDir}`;
  return undefined;
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
