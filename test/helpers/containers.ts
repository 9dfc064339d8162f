/** The real podman (or docker) that setup installs, for tests that look at containers from outside. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { findRuntime, CONTAINER_LABEL } from "../../gateway/upstream/index.ts";

const run = promisify(execFile);

export const SHIPPED_IMAGES = {
  notes: "localhost/gatehouse-notes:latest",
  probe: "localhost/gatehouse-probe:latest",
  clock: "localhost/gatehouse-clock:latest",
} as const;

export function engine(): string {
  const runtime = findRuntime({ runtime: "auto", runtimeArgs: [] });
  if (runtime === undefined) throw new Error("no podman or docker on PATH: `npm run setup` installs podman");
  return runtime.binary;
}

export async function engineCommand(args: string[]): Promise<string> {
  const { stdout } = await run(engine(), args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** Running (or stopped but not removed) containers of one gateway deployment, by owner label. */
export async function containersOf(owner: string, server?: string): Promise<string[]> {
  const filters = ["--filter", `label=${CONTAINER_LABEL.owner}=${owner}`];
  if (server !== undefined) filters.push("--filter", `label=${CONTAINER_LABEL.server}=${server}`);
  const out = await engineCommand(["ps", "--all", "--quiet", "--no-trunc", ...filters]);
  return out.split("\n").map((line) => line.trim()).filter(Boolean).sort();
}

export interface InspectedContainer {
  Id: string;
  Name: string;
  Config: { User: string; Labels: Record<string, string> };
  EffectiveCaps?: string[] | null;
  HostConfig: {
    ReadonlyRootfs: boolean;
    CapDrop: string[] | null;
    CapAdd: string[] | null;
    SecurityOpt: string[] | null;
    Memory: number;
    NanoCpus: number;
    PidsLimit: number;
    NetworkMode: string;
    Tmpfs: Record<string, string> | null;
    Privileged: boolean;
    LogConfig: { Type: string };
  };
}

export async function inspectContainer(id: string): Promise<InspectedContainer> {
  const [container] = JSON.parse(await engineCommand(["inspect", id])) as InspectedContainer[];
  if (container === undefined) throw new Error(`no container ${id}`);
  return container;
}
