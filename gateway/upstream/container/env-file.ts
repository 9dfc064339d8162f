/**
 * A server's env reaches its container through `--env-file`: never through argv (visible in `ps`), and never
 * through the engine CLI's own environment, where keys such as LD_PRELOAD, PATH or CONTAINERS_CONF would change
 * what the engine itself does. The file sits in a private 0700 folder, is 0600, and is removed as soon as the
 * container is up (the engine reads it before creating the container).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

export interface EnvFile {
  path: string;
  remove(): Promise<void>;
}

export async function writeEnvFile(env: Record<string, string>): Promise<EnvFile | undefined> {
  const entries = Object.entries(env);
  if (entries.length === 0) return undefined;
  const dir = await mkdtemp(path.join(tmpdir(), "gatehouse-env-"));
  const file = path.join(dir, "env");
  // The config schema refuses newlines in container env values: the format has no escaping.
  await writeFile(file, entries.map(([key, value]) => `${key}=${value}\n`).join(""), { mode: 0o600 });
  let removed: Promise<void> | undefined;
  return {
    path: file,
    remove: () => (removed ??= rm(dir, { recursive: true, force: true })),
  };
}
