import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfigText, type ResolvedConfig } from "./load.ts";

const FILE = "gatehouse.yaml";
const BASE = "/srv/gatehouse";

function parse(text: string) {
  return parseConfigText(text, { file: FILE, env: {}, baseDir: BASE });
}

function server(lines: string, container = "container: { allowedRoots: [./data] }"): string {
  return `${container}\nservers:\n  - name: notes\n    transport: container\n    image: localhost/gatehouse-notes:latest\n${lines
    .split("\n")
    .filter(Boolean)
    .map((line) => `    ${line}`)
    .join("\n")}\n`;
}

function valid(text: string): ResolvedConfig {
  const result = parse(text);
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

describe("container servers: defaults", () => {
  it("hardens by default: no network, a non-root user, limits, shared, health checked", () => {
    const config = valid(server(""));
    expect(config.servers[0]).toEqual({
      name: "notes",
      transport: "container",
      image: "localhost/gatehouse-notes:latest",
      pull: "if-missing",
      args: [],
      env: {},
      volumes: [],
      network: "none",
      user: "65532:65532",
      resources: { memory: "512m", cpus: 1, pids: 256 },
      scope: "shared",
      healthCheck: { intervalMs: 30000, timeoutMs: 5000 },
      timeoutMs: 30000,
      identity: "none",
      roots: false,
      required: true,
    });
    expect(config.container).toEqual({ runtime: "auto", runtimeArgs: [], allowedRoots: [path.join(BASE, "data")] });
  });

  it("resolves volume host paths and the fallback's cwd against the config folder", () => {
    const config = valid(
      server("volumes: [{ host: ./data/notes, container: /data, readOnly: false }]\nfallback: { command: node, args: [main.ts], cwd: ./servers/notes }"),
    );
    const notes = config.servers[0];
    if (notes?.transport !== "container") throw new Error("expected a container server");
    expect(notes.volumes).toEqual([{ host: path.join(BASE, "data/notes"), container: "/data", readOnly: false }]);
    expect(notes.fallback).toEqual({ command: "node", args: ["main.ts"], env: {}, cwd: path.join(BASE, "servers/notes") });
  });

  it("takes the issue's example as written", () => {
    const config = valid(
      server(
        [
          "args: []",
          'env: { TOKEN: "secret" }',
          "volumes: [{ host: ./data/notes, container: /data, readOnly: false }]",
          "network: none",
          "resources: { memory: 256m, cpus: 0.5, pids: 128 }",
          "scope: per-session",
          "maxInstances: 3",
          "idleTimeoutMs: 60000",
          "pull: never",
          `digest: sha256:${"a".repeat(64)}`,
        ].join("\n"),
        'container: { runtime: podman, runtimeArgs: ["--runtime", "/usr/sbin/runc"], allowedRoots: [./data] }',
      ),
    );
    expect(config.servers[0]).toMatchObject({ scope: "per-session", maxInstances: 3, idleTimeoutMs: 60000, resources: { memory: "256m", cpus: 0.5, pids: 128 } });
    expect(config.container.runtimeArgs).toEqual(["--runtime", "/usr/sbin/runc"]);
  });
});

describe("container servers: problems, one line each at the right path", () => {
  const cases: Array<{ name: string; text: string; error: string }> = [
    {
      name: "a volume outside the allowed roots",
      text: server("volumes: [{ host: /etc, container: /etc }]"),
      error: `${FILE}:servers[0].volumes[0].host: /etc is not under an allowed root (allowed: ${path.join(BASE, "data")})`,
    },
    {
      name: "a volume escaping a root with ..",
      text: server("volumes: [{ host: ./data/../secrets, container: /s }]"),
      error: `${FILE}:servers[0].volumes[0].host: ${path.join(BASE, "secrets")} is not under an allowed root (allowed: ${path.join(BASE, "data")})`,
    },
    {
      name: "a volume when no root is allowed",
      text: server("volumes: [{ host: ./data, container: /data }]", ""),
      error: `${FILE}:servers[0].volumes[0].host: ${path.join(BASE, "data")} is not under an allowed root (container.allowedRoots is empty)`,
    },
    { name: "a relative container path", text: server("volumes: [{ host: ./data, container: data }]"), error: `${FILE}:servers[0].volumes[0].container: must be an absolute path without ':' or ','` },
    { name: "a colon smuggling mount options", text: server("volumes: [{ host: './data:/etc', container: /x }]"), error: `${FILE}:servers[0].volumes[0].host: must not contain ':' or ','` },
    { name: "root user", text: server('user: "0"'), error: `${FILE}:servers[0].user: must not be root (uid 0)` },
    { name: "root user with a group", text: server('user: "0:1000"'), error: `${FILE}:servers[0].user: must not be root (uid 0)` },
    { name: "a user name", text: server("user: app"), error: `${FILE}:servers[0].user: must be uid or uid:gid (numbers)` },
    { name: "the root group", text: server('user: "1000:0"'), error: `${FILE}:servers[0].user: must not be in the root group (gid 0)` },
    { name: "memory 0 (no limit, to docker)", text: server('resources: { memory: "0" }'), error: `${FILE}:servers[0].resources.memory: must be a size such as 256m or 1g` },
    { name: "memory under podman's floor", text: server("resources: { memory: 4m }"), error: `${FILE}:servers[0].resources.memory: must be at least 6m` },
    { name: "a multi-line env value", text: server('env: { KEY: "a\\nb" }'), error: `${FILE}:servers[0].env.KEY: must be one line (container env travels in an env file)` },
    {
      name: "host networking",
      text: server("network: host"),
      error: `${FILE}:servers[0].network: host networking would give the server the gateway's network; name a network`,
    },
    { name: "a network mode smuggled in", text: server("network: container:gateway"), error: `${FILE}:servers[0].network: must be none or a network name` },
    { name: "a bad memory size", text: server("resources: { memory: lots }"), error: `${FILE}:servers[0].resources.memory: must be a size such as 256m or 1g` },
    { name: "too few pids", text: server("resources: { pids: 2 }"), error: `${FILE}:servers[0].resources.pids: Too small: expected number to be >=8` },
    { name: "maxInstances on a shared server", text: server("maxInstances: 3"), error: `${FILE}:servers[0].maxInstances: only applies to scope: per-session` },
    { name: "idleTimeoutMs on a shared server", text: server("idleTimeoutMs: 1000"), error: `${FILE}:servers[0].idleTimeoutMs: only applies to scope: per-session` },
    { name: "an unknown scope", text: server("scope: per-call"), error: `${FILE}:servers[0].scope: Invalid option: expected one of "shared"|"per-session"` },
    { name: "an unknown pull policy", text: server("pull: always"), error: `${FILE}:servers[0].pull: Invalid option: expected one of "never"|"if-missing"` },
    { name: "a short digest", text: server("digest: sha256:abc"), error: `${FILE}:servers[0].digest: must be sha256: followed by 64 hex digits` },
    { name: "an env name that is not one", text: server('env: { "A-B": x }'), error: `${FILE}:servers[0].env.A-B: must be an environment variable name` },
    {
      name: "a health timeout as long as the interval",
      text: server("healthCheck: { intervalMs: 1000, timeoutMs: 1000 }"),
      error: `${FILE}:servers[0].healthCheck.timeoutMs: must be shorter than healthCheck.intervalMs`,
    },
    { name: "a stdio key on a container server", text: server("command: node"), error: `${FILE}:servers[0]: unknown key "command"` },
    { name: "an unknown runtime", text: server("", "container: { runtime: lxc }"), error: `${FILE}:container.runtime: Invalid option: expected one of "auto"|"podman"|"docker"` },
    { name: "an image reference with a space", text: server("").replace("localhost/gatehouse-notes:latest", "'bad image'"), error: `${FILE}:servers[0].image: must be an image reference such as localhost/notes:latest` },
  ];
  for (const { name, text, error } of cases) {
    it(name, () => {
      const result = parse(text);
      expect(result.ok ? [] : result.errors).toEqual([error]);
    });
  }

  const ownState: Array<{ name: string; text: string; error: string }> = [
    {
      name: "a volume that is the data dir",
      text: "dataDir: ./data\n" + server("volumes: [{ host: ./data, container: /data }]"),
      error: `${FILE}:servers[0].volumes[0].host: ${path.join(BASE, "data")} would expose the gateway's own dataDir ${path.join(BASE, "data")} (server data goes in ${path.join(BASE, "data/volumes")} or elsewhere)`,
    },
    {
      name: "a volume inside the data dir but outside its volumes folder (keys live there)",
      text: "dataDir: ./data\n" + server("volumes: [{ host: ./data/gateway-key, container: /k }]"),
      error: `${FILE}:servers[0].volumes[0].host: ${path.join(BASE, "data/gateway-key")} would expose the gateway's own dataDir ${path.join(BASE, "data")} (server data goes in ${path.join(BASE, "data/volumes")} or elsewhere)`,
    },
    {
      name: "a volume that contains the audit log",
      text: "audit: { dir: ./data/audit }\n" + server("volumes: [{ host: ./data, container: /data }]"),
      error: `${FILE}:servers[0].volumes[0].host: ${path.join(BASE, "data")} would expose the gateway's own audit log ${path.join(BASE, "data/audit")} (server data goes in ${path.join(BASE, ".gatehouse/volumes")} or elsewhere)`,
    },
  ];
  for (const { name, text, error } of ownState) {
    it(name, () => {
      const result = parse(text);
      expect(result.ok ? [] : result.errors).toEqual([error]);
    });
  }

  it("allows a volume in <dataDir>/volumes, and a root folder named like ..data", () => {
    expect(parse("dataDir: ./data\n" + server("volumes: [{ host: ./data/volumes/notes, container: /data }]", "container: { allowedRoots: [./data/volumes] }")).ok).toBe(true);
    expect(parse(server("volumes: [{ host: ./data/..cache, container: /c }]")).ok).toBe(true);
  });

  it("names container among the transports", () => {
    const result = parse("servers:\n  - name: x\n    transport: pod\n");
    expect(result.ok ? [] : result.errors).toEqual([`${FILE}:servers[0].transport: transport must be one of: stdio, http, sse, container`]);
  });
});
