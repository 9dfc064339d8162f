/**
 * The container engine as a command line: podman or docker, found on PATH, plus the operator's global flags.
 * Everything here shells out with execFile (no shell), bounded by a timeout.
 */
import { execFile, spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import path from "node:path";
import type { ContainerSettings } from "../../config/index.ts";

export type RuntimeKind = "podman" | "docker";

export interface ContainerRuntime {
  kind: RuntimeKind;
  /** Absolute path of the engine's CLI. */
  binary: string;
  /** container.runtimeArgs: global flags, placed before every subcommand (`podman --runtime runc run …`). */
  globalArgs: string[];
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

const COMMAND_TIMEOUT_MS = 60_000;

function executableOnPath(name: string, pathEnv: string): string | undefined {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (dir === "") continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `auto` prefers podman (daemonless, runs rootless) over docker. Undefined when none is installed. */
export function findRuntime(settings: Pick<ContainerSettings, "runtime" | "runtimeArgs">, pathEnv = process.env.PATH ?? ""): ContainerRuntime | undefined {
  const kinds: RuntimeKind[] = settings.runtime === "auto" ? ["podman", "docker"] : [settings.runtime];
  for (const kind of kinds) {
    const binary = executableOnPath(kind, pathEnv);
    if (binary !== undefined) return { kind, binary, globalArgs: settings.runtimeArgs };
  }
  return undefined;
}

export function runtimeCommand(runtime: ContainerRuntime, args: string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(runtime.binary, [...runtime.globalArgs, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout, stderr: stderr || (error?.message ?? "") });
    });
  });
}

/** For the process's 'exit' handler, which cannot wait for anything asynchronous. */
export function runtimeCommandSync(runtime: ContainerRuntime, args: string[]): number {
  return spawnSync(runtime.binary, [...runtime.globalArgs, ...args], { stdio: "ignore", timeout: 10_000 }).status ?? 1;
}

/** Force-removes containers by name or id; one that is already gone is not an error. */
export function removeArgs(runtime: ContainerRuntime, names: string[]): string[] {
  // podman's rm -f first stops with the image's stop timeout (10 s); -t 0 kills at once, as docker's rm -f does.
  return runtime.kind === "podman" ? ["rm", "--force", "--ignore", "--time", "0", ...names] : ["rm", "--force", ...names];
}

export function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.trim() ?? "";
}

/** What `image inspect` says about an image: absent, or its identifiers. */
export type ImageFacts = { present: false; reason: string } | { present: true; id: string; digests: string[] };

export async function inspectImage(runtime: ContainerRuntime, image: string): Promise<ImageFacts> {
  const result = await runtimeCommand(runtime, ["image", "inspect", image]);
  if (result.code !== 0) return { present: false, reason: firstLine(result.stderr) || `exit code ${result.code}` };
  try {
    const [facts] = JSON.parse(result.stdout) as Array<{ Id?: string; Digest?: string; RepoDigests?: string[] }>;
    const id = facts?.Id ?? "";
    const digests = [facts?.Digest, id.startsWith("sha256:") ? id : `sha256:${id}`, ...(facts?.RepoDigests ?? []).map((d) => d.split("@")[1])];
    return { present: true, id, digests: digests.filter((d): d is string => typeof d === "string" && d.length > 0) };
  } catch {
    return { present: false, reason: "image inspect printed something that is not JSON" };
  }
}

/**
 * ulimits for containers: the engines' defaults can exceed this host's hard limits (runc then fails with
 * "error setting rlimit"), so stay at or under what the gateway itself may have.
 */
export function containerUlimits(limitsText = readProcLimits()): { nofile: number; nproc: number } {
  const hard = (label: string, fallback: number) => {
    const match = new RegExp(`^${label}\\s+\\S+\\s+(\\S+)`, "m").exec(limitsText);
    const value = match?.[1];
    return value === undefined || value === "unlimited" ? fallback : Number(value);
  };
  return { nofile: Math.min(hard("Max open files", 65_536), 65_536), nproc: Math.min(hard("Max processes", 16_384), 16_384) };
}

function readProcLimits(): string {
  try {
    return readFileSync("/proc/self/limits", "utf8");
  } catch {
    return "";
  }
}
