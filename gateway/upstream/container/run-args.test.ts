import { describe, expect, it } from "vitest";
import { parseConfigText, type ResolvedContainerServerConfig } from "../../config/index.ts";
import { runArguments, type RunSpec } from "./run-args.ts";
import type { ContainerRuntime } from "./runtime.ts";

const podman: ContainerRuntime = { kind: "podman", binary: "/usr/bin/podman", globalArgs: [] };
const spec: RunSpec = { name: "gatehouse-abc-notes-1", image: "localhost/notes:latest", labels: { "io.gatehouse.managed": "true" }, ulimits: { nofile: 20000, nproc: 16384 } };

function containerServer(extra = ""): ResolvedContainerServerConfig {
  const text = `container: { allowedRoots: [/srv/data] }\nservers:\n  - name: notes\n    transport: container\n    image: localhost/notes:latest\n${extra}`;
  const result = parseConfigText(text, { file: "t.yaml", env: {}, baseDir: "/srv" });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  const server = result.config.servers[0];
  if (server?.transport !== "container") throw new Error("not a container server");
  return server;
}

/** The value following a flag, for every occurrence. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((arg, index) => (arg === flag ? [args[index + 1] ?? "<missing>"] : []));
}

describe("runArguments: the hardening every container gets", () => {
  const args = runArguments(podman, containerServer(), spec);
  const cases: Array<{ flag: string; expected: string[] }> = [
    { flag: "--name", expected: ["gatehouse-abc-notes-1"] },
    { flag: "--tmpfs", expected: ["/tmp:rw,nosuid,nodev,noexec,size=64m"] },
    { flag: "--cap-drop", expected: ["ALL"] },
    { flag: "--security-opt", expected: ["no-new-privileges"] },
    { flag: "--user", expected: ["65532:65532"] },
    { flag: "--network", expected: ["none"] },
    { flag: "--memory", expected: ["512m"] },
    { flag: "--memory-swap", expected: ["512m"] },
    { flag: "--cpus", expected: ["1"] },
    { flag: "--pids-limit", expected: ["256"] },
    { flag: "--ulimit", expected: ["nofile=20000:20000", "nproc=16384:16384"] },
    { flag: "--pull", expected: ["missing"] },
    { flag: "--log-driver", expected: ["none"] },
    { flag: "--label", expected: ["io.gatehouse.managed=true"] },
    { flag: "--env", expected: [] },
    { flag: "--mount", expected: [] },
  ];
  for (const { flag, expected } of cases) {
    it(`${flag} ${expected.join(" ") || "(absent)"}`, () => expect(values(args, flag)).toEqual(expected));
  }
  it("runs interactive, removed on exit, with a read-only root and no writable tmpfs but /tmp", () => {
    expect(args.slice(0, 3)).toEqual(["run", "--interactive", "--rm"]);
    expect(args).toContain("--read-only");
    expect(args).toContain("--read-only-tmpfs=false");
    expect(args).not.toContain("--privileged");
  });
  it("ends with the image and then the server's own args", () => {
    expect(runArguments(podman, containerServer('    args: ["--verbose", "x"]\n'), spec).slice(-3)).toEqual(["localhost/notes:latest", "--verbose", "x"]);
  });
});

describe("runArguments: what the config changes", () => {
  const cases: Array<{ name: string; extra: string; flag: string; expected: string[] }> = [
    { name: "limits", extra: "    resources: { memory: 256m, cpus: 0.5, pids: 128 }\n", flag: "--cpus", expected: ["0.5"] },
    { name: "pids", extra: "    resources: { pids: 128 }\n", flag: "--pids-limit", expected: ["128"] },
    { name: "a named network", extra: "    network: tools\n", flag: "--network", expected: ["tools"] },
    { name: "another user", extra: '    user: "1000:1000"\n', flag: "--user", expected: ["1000:1000"] },
    { name: "pull never", extra: "    pull: never\n", flag: "--pull", expected: ["never"] },
    {
      name: "a writable volume",
      extra: "    volumes: [{ host: /srv/data/notes, container: /data, readOnly: false }]\n",
      flag: "--mount",
      expected: ["type=bind,source=/srv/data/notes,target=/data"],
    },
    {
      name: "a read-only volume (the default)",
      extra: "    volumes: [{ host: /srv/data/ref, container: /ref }]\n",
      flag: "--mount",
      expected: ["type=bind,source=/srv/data/ref,target=/ref,readonly"],
    },
  ];
  for (const { name, extra, flag, expected } of cases) {
    it(name, () => expect(values(runArguments(podman, containerServer(extra), spec), flag)).toEqual(expected));
  }

  it("passes env through the env file only: no --env, no value in argv", () => {
    const args = runArguments(podman, containerServer('    env: { TOKEN: "s3cret" }\n'), { ...spec, envFile: "/tmp/gatehouse-env-x/env" });
    expect(values(args, "--env-file")).toEqual(["/tmp/gatehouse-env-x/env"]);
    expect(values(args, "--env")).toEqual([]);
    expect(args.join(" ")).not.toContain("s3cret");
  });

  it("mounts the checked (real) host paths when given, not the configured spelling", () => {
    const args = runArguments(podman, containerServer("    volumes: [{ host: /srv/data/link, container: /data }]\n"), {
      ...spec,
      volumes: [{ host: "/srv/data/real", container: "/data", readOnly: true }],
    });
    expect(values(args, "--mount")).toEqual(["type=bind,source=/srv/data/real,target=/data,readonly"]);
  });

  it("docker has no --read-only-tmpfs flag", () => {
    expect(runArguments({ ...podman, kind: "docker" }, containerServer(), spec)).not.toContain("--read-only-tmpfs=false");
  });

  it("puts the runtime's global args before run", () => {
    const runc: ContainerRuntime = { ...podman, globalArgs: ["--runtime", "/usr/sbin/runc"] };
    expect(runArguments(runc, containerServer(), spec).slice(0, 3)).toEqual(["--runtime", "/usr/sbin/runc", "run"]);
  });
});
