/**
 * Volume host paths, checked where it matters: with symlinks resolved, before anything is created, and the path
 * that passed the check is the one mounted (not the configured spelling, which a symlink swap could redirect).
 */
import { chown, mkdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import type { ResolvedContainerServerConfig } from "../../config/index.ts";
import { gatewayStateIn, isInside, type GatewayState } from "../../system.ts";

export interface CheckedVolume {
  /** Real path, symlinks resolved, inside an allowed root. */
  host: string;
  container: string;
  readOnly: boolean;
}

export class VolumeRefused extends Error {}

/** The real path of the deepest part of `target` that exists (so that a symlinked parent is seen before mkdir). */
async function realAncestor(target: string): Promise<string> {
  let current = target;
  for (;;) {
    try {
      return path.join(await realpath(current), path.relative(current, target));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      const parent = path.dirname(current);
      if (parent === current) throw error;
      current = parent;
    }
  }
}

/**
 * Checks every volume against the allowed roots and the gateway's own state (a symlink under a root may point
 * into either), creates missing folders, and, when the gateway runs as root, hands a writable folder it just
 * created to the container's user (never one that already existed).
 */
export async function prepareVolumes(server: ResolvedContainerServerConfig, allowedRoots: string[], gatewayState: GatewayState): Promise<CheckedVolume[]> {
  const roots = await Promise.all(allowedRoots.map((root) => realAncestor(path.resolve(root))));
  const [dataDir, auditDir] = await Promise.all([gatewayState.dataDir, gatewayState.auditDir].map((dir) => realAncestor(path.resolve(dir))));
  const check = (real: string, configured: string) => {
    if (!roots.some((root) => isInside(real, root))) throw new VolumeRefused(`volume ${configured} resolves to ${real}, outside container.allowedRoots`);
    const own = gatewayStateIn(real, { dataDir: dataDir!, auditDir: auditDir! });
    if (own !== undefined) throw new VolumeRefused(`volume ${configured} resolves to ${real}, which would expose the gateway's own ${own}`);
  };
  const checked: CheckedVolume[] = [];
  for (const volume of server.volumes) {
    check(await realAncestor(volume.host), volume.host);
    const created = await mkdir(volume.host, { recursive: true });
    const real = await realpath(volume.host);
    check(real, volume.host);
    if (created !== undefined && !volume.readOnly && process.getuid?.() === 0) {
      const [uid = 0, gid = uid] = server.user.split(":").map(Number);
      if ((await stat(real)).uid === 0) await chown(real, uid, gid);
    }
    checked.push({ host: real, container: volume.container, readOnly: volume.readOnly });
  }
  return checked;
}
