// What the kernel says about this process's sandbox: identity, capabilities, no_new_privs, seccomp, cgroup limits
// and whether "/" is mounted read-only. Read from inside, so a test can prove the container flags took effect.
// Every fact is null when its source is missing or unreadable (another OS, a masked /proc): a probe never throws.
import { readFile, readdir } from "node:fs/promises";
import { hostname } from "node:os";
import { z } from "zod";

/** A cgroup limit: bytes or a count, or "max" when unlimited. */
export type CgroupLimit = number | "max";

export interface SandboxFacts {
  uid: number | null;
  gid: number | null;
  groups: number[] | null;
  hostname: string | null;
  pid: number;
  /** Effective capabilities, the hex mask from /proc/self/status ("0000000000000000" is none). */
  capEff: string | null;
  /** Bounding set: what the process could ever regain. */
  capBnd: string | null;
  /** 1 when no_new_privs is set: setuid binaries and file capabilities no longer raise privileges. */
  noNewPrivs: number | null;
  /** 0 disabled, 1 strict, 2 filter. */
  seccomp: number | null;
  cgroupMemoryMax: CgroupLimit | null;
  cgroupPidsMax: CgroupLimit | null;
  rootReadOnly: boolean | null;
  /** Network interfaces in this network namespace (/sys/class/net): ["lo"] alone means no network. */
  networkInterfaces: string[] | null;
}

const cgroupLimitSchema = z.union([z.number(), z.literal("max")]).nullable();

/** The outputSchema of a tool whose structuredContent is SandboxFacts. */
export const sandboxFactsShape = {
  uid: z.number().nullable(),
  gid: z.number().nullable(),
  groups: z.array(z.number()).nullable(),
  hostname: z.string().nullable(),
  pid: z.number(),
  capEff: z.string().nullable(),
  capBnd: z.string().nullable(),
  noNewPrivs: z.number().nullable(),
  seccomp: z.number().nullable(),
  cgroupMemoryMax: cgroupLimitSchema,
  cgroupPidsMax: cgroupLimitSchema,
  rootReadOnly: z.boolean().nullable(),
  networkInterfaces: z.array(z.string()).nullable(),
};

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return null;
  }
}

function orNull<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

/** The value of `Key:\tvalue` in a /proc/<pid>/status text. */
export function statusField(status: string, key: string): string | null {
  const line = status.split("\n").find((candidate) => candidate.startsWith(`${key}:`));
  return line === undefined ? null : line.slice(key.length + 1).trim();
}

function statusNumber(status: string, key: string): number | null {
  const value = statusField(status, key);
  return value !== null && /^\d+$/.test(value) ? Number(value) : null;
}

/**
 * A cgroup limit file's content as a limit. cgroup v2 writes "max" for unlimited; v1 writes a huge number
 * (LONG_MAX rounded down to a page for memory) that does not fit a JSON-safe integer, which means unlimited too.
 */
export function parseCgroupLimit(text: string | null): CgroupLimit | null {
  const value = text?.trim();
  if (value === undefined) return null;
  if (value === "max") return "max";
  if (!/^\d+$/.test(value)) return null;
  const limit = Number(value);
  return Number.isSafeInteger(limit) ? limit : "max";
}

/** The cgroup paths of this process by controller ("" for the v2 unified hierarchy), from /proc/self/cgroup. */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    for (const controller of (match[1] ?? "").split(",")) paths.set(controller, match[2] ?? "/");
  }
  return paths;
}

async function firstLimit(paths: string[]): Promise<CgroupLimit | null> {
  for (const path of paths) {
    const limit = parseCgroupLimit(await readText(path));
    if (limit !== null) return limit;
  }
  return null;
}

/**
 * The process's own cgroup directory first (on a host, or with a private cgroup namespace that path is "/"),
 * then the mount's root, which is where a container without a cgroup namespace finds its own cgroup (v1).
 */
async function cgroupLimits(): Promise<Pick<SandboxFacts, "cgroupMemoryMax" | "cgroupPidsMax">> {
  const own = parseProcCgroup((await readText("/proc/self/cgroup")) ?? "");
  const candidates = (controller: string, v1File: string, v2File: string): string[] => {
    const unified = own.get("") ?? "/";
    const legacy = own.get(controller) ?? "/";
    return [
      `/sys/fs/cgroup${unified.replace(/\/$/, "")}/${v2File}`,
      `/sys/fs/cgroup/${v2File}`,
      `/sys/fs/cgroup/${controller}${legacy.replace(/\/$/, "")}/${v1File}`,
      `/sys/fs/cgroup/${controller}/${v1File}`,
    ];
  };
  return {
    cgroupMemoryMax: await firstLimit(candidates("memory", "memory.limit_in_bytes", "memory.max")),
    cgroupPidsMax: await firstLimit(candidates("pids", "pids.max", "pids.max")),
  };
}

/**
 * Whether "/" is mounted read-only, from a /proc/self/mounts text. The last "/" entry wins: later mounts
 * stack on top of earlier ones (the initramfs rootfs stays listed underneath the real root).
 */
export function rootIsReadOnly(mounts: string): boolean | null {
  let readOnly: boolean | null = null;
  for (const line of mounts.split("\n")) {
    const [, mountPoint, , options] = line.split(" ");
    if (mountPoint === "/" && options !== undefined) readOnly = options.split(",").includes("ro");
  }
  return readOnly;
}

export async function readSandboxFacts(): Promise<SandboxFacts> {
  const status = (await readText("/proc/self/status")) ?? "";
  const mounts = await readText("/proc/self/mounts");
  return {
    uid: orNull(() => process.getuid?.() ?? null),
    gid: orNull(() => process.getgid?.() ?? null),
    groups: orNull(() => process.getgroups?.() ?? null),
    hostname: orNull(() => hostname()),
    pid: process.pid,
    capEff: statusField(status, "CapEff"),
    capBnd: statusField(status, "CapBnd"),
    noNewPrivs: statusNumber(status, "NoNewPrivs"),
    seccomp: statusNumber(status, "Seccomp"),
    ...(await cgroupLimits()),
    rootReadOnly: mounts === null ? null : rootIsReadOnly(mounts),
    networkInterfaces: await readdir("/sys/class/net").then((names) => names.sort(), () => null),
  };
}
