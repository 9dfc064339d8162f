/**
 * Which containers are ours. Every container carries labels naming the gateway deployment (its data dir on this
 * host) and the gateway process. At start, containers of this deployment whose process is gone (a SIGKILLed
 * gateway) are removed; containers of a live gateway sharing the data dir are left alone.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { isProcessAlive } from "../../system.ts";
import { firstLine, removeArgs, runtimeCommand, type ContainerRuntime } from "./runtime.ts";

export const LABEL = {
  managed: "io.gatehouse.managed",
  owner: "io.gatehouse.owner",
  pid: "io.gatehouse.pid",
  /** The gateway process's start time (clock ticks since boot, /proc/<pid>/stat): a pid alone may be reused. */
  started: "io.gatehouse.started",
  server: "io.gatehouse.server",
  scope: "io.gatehouse.scope",
} as const;

/** A short, stable id for the gateway deployment whose data lives in `dataDir` on this host. */
export function ownerId(dataDir: string, host = hostname()): string {
  return createHash("sha256").update(`${host}\0${dataDir}`).digest("hex").slice(0, 12);
}

export function containerLabels(owner: string, server: string, scope: "shared" | "per-session"): Record<string, string> {
  return {
    [LABEL.managed]: "true",
    [LABEL.owner]: owner,
    [LABEL.pid]: String(process.pid),
    [LABEL.started]: processStartTime(process.pid) ?? "",
    [LABEL.server]: server,
    [LABEL.scope]: scope,
  };
}

/** Field 22 of /proc/<pid>/stat; undefined off Linux or when the process is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether the gateway process that labelled a container still runs (same pid, same start time). */
export function gatewayAlive(pid: number, started: string): boolean {
  if (!isProcessAlive(pid)) return false;
  const now = processStartTime(pid);
  return started === "" || now === undefined || now === started;
}

/** Unique per start, so a restart never waits for the previous container's removal. */
export function containerName(owner: string, server: string): string {
  return `gatehouse-${owner}-${server}-${randomBytes(4).toString("hex")}`;
}

export interface ManagedContainer {
  id: string;
  pid: number;
  started: string;
  server: string;
}

export async function listManaged(runtime: ContainerRuntime, owner: string): Promise<ManagedContainer[]> {
  const listed = await runtimeCommand(runtime, ["ps", "--all", "--quiet", "--no-trunc", "--filter", `label=${LABEL.owner}=${owner}`]);
  if (listed.code !== 0) throw new Error(`${runtime.kind} ps failed: ${firstLine(listed.stderr)}`);
  const ids = listed.stdout.split("\n").map((id) => id.trim()).filter(Boolean);
  if (ids.length === 0) return [];
  const format = `{{.Id}} {{index .Config.Labels "${LABEL.pid}"}} {{index .Config.Labels "${LABEL.server}"}} {{index .Config.Labels "${LABEL.started}"}}`;
  const inspected = await runtimeCommand(runtime, ["inspect", "--format", format, ...ids]);
  // A container removed between ps and inspect makes inspect fail for it; the others still print.
  return inspected.stdout
    .split("\n")
    .map((line) => line.trim().split(" "))
    .filter((fields) => fields.length >= 3 && fields[0] !== "")
    .map(([id = "", pid = "", server = "", started = ""]) => ({ id, pid: Number(pid), server, started: started === "<no" ? "" : started }));
}

/** Removes this deployment's containers left behind by gateway processes that no longer run. */
export async function removeOrphans(runtime: ContainerRuntime, owner: string): Promise<ManagedContainer[]> {
  // Not "pid !== ours": as PID 1 in a container, every previous gateway had our pid too; the start time tells.
  const orphans = (await listManaged(runtime, owner)).filter((c) => !gatewayAlive(c.pid, c.started));
  if (orphans.length === 0) return [];
  const ids = new Set(orphans.map((c) => c.id));
  // rm of a paused container can report failure ("container state improper") while the removal goes through:
  // what counts is whether the orphans are still listed afterwards. Two attempts, then give up loudly.
  let failure = "";
  for (let attempt = 0; attempt < 2; attempt++) {
    const removed = await runtimeCommand(runtime, removeArgs(runtime, [...ids]));
    if (removed.code === 0) return orphans;
    failure = firstLine(removed.stderr);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const left = (await listManaged(runtime, owner)).filter((c) => ids.has(c.id));
    if (left.length === 0) return orphans;
    ids.clear();
    for (const c of left) ids.add(c.id);
  }
  throw new Error(`${runtime.kind} rm failed for ${[...ids].map((id) => id.slice(0, 12)).join(", ")}: ${failure}`);
}
