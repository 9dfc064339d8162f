/**
 * The `run` command line for one container server. Pure: config in, argv out, so that the hardening is
 * table-tested flag by flag (run-args.test.ts) and `podman inspect` in the e2e test confirms the engine took it.
 */
import type { ResolvedContainerServerConfig } from "../../config/index.ts";
import type { ContainerRuntime } from "./runtime.ts";
import type { CheckedVolume } from "./volumes.ts";

export interface RunSpec {
  /** The container's name (unique per start). */
  name: string;
  /** The image to run: the config's reference, or the exact id that a digest check approved. */
  image: string;
  labels: Record<string, string>;
  ulimits: { nofile: number; nproc: number };
  /** The server's env, written to a private file (see env-file.ts); absent when it has none. */
  envFile?: string | undefined;
  /** The volumes as checked (real host paths); the config's own when absent (tests of the argv alone). */
  volumes?: CheckedVolume[];
}

/** Fixed for every container: the parts of hardening that are not configurable on purpose. */
const TMPFS = "/tmp:rw,nosuid,nodev,noexec,size=64m";

export function runArguments(runtime: ContainerRuntime, server: ResolvedContainerServerConfig, spec: RunSpec): string[] {
  const { resources } = server;
  const args = [
    ...runtime.globalArgs,
    "run",
    "--interactive",
    "--rm",
    "--name", spec.name,
    "--read-only",
    // podman adds writable tmpfs on /run and /var/tmp to a read-only root unless told not to; /tmp is enough.
    ...(runtime.kind === "podman" ? ["--read-only-tmpfs=false"] : []),
    "--tmpfs", TMPFS,
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
    "--user", server.user,
    "--network", server.network,
    "--memory", resources.memory,
    // Equal to --memory: no swap on top of the limit.
    "--memory-swap", resources.memory,
    "--cpus", String(resources.cpus),
    "--pids-limit", String(resources.pids),
    "--ulimit", `nofile=${spec.ulimits.nofile}:${spec.ulimits.nofile}`,
    "--ulimit", `nproc=${spec.ulimits.nproc}:${spec.ulimits.nproc}`,
    "--pull", server.pull === "never" ? "never" : "missing",
    // stdout is the MCP stream (tool results, possibly secrets): the engine must not keep a copy on disk.
    "--log-driver", "none",
  ];
  for (const [key, value] of Object.entries(spec.labels)) args.push("--label", `${key}=${value}`);
  if (spec.envFile !== undefined) args.push("--env-file", spec.envFile);
  for (const volume of spec.volumes ?? server.volumes) {
    args.push("--mount", `type=bind,source=${volume.host},target=${volume.container}${volume.readOnly ? ",readonly" : ""}`);
  }
  args.push(spec.image, ...server.args);
  return args;
}
