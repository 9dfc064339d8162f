/**
 * The Dockerfile, without an engine (none runs here and there is no registry): a small parser reads it, and the
 * tests check what a build and a run would need: every COPY source in the context and not .dockerignored, the
 * stages' wiring, a non-root final USER, a HEALTHCHECK that really probes /healthz, and an ENTRYPOINT + CMD that
 * `gatehouse` accepts; plus agreement with the Helm chart (args, dataDir, bundle path, uid, port).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { builtinModules } from "node:module";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GATEWAY, ROOT, gatewayConfig, one, render, tempFile } from "./helpers/helm.ts";
import { all, copyParts, dockerignore, filesUnder, healthcheckCommand, last, parseDockerfile, type Stage } from "./helpers/dockerfile.ts";


const DOCKERFILE = readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
const { globalArgs, stages } = parseDockerfile(DOCKERFILE);
const isIgnored = dockerignore(readFileSync(path.join(ROOT, ".dockerignore"), "utf8"));
const stage = (name: string): Stage => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`no stage ${name} (have ${stages.map((s) => s.name).join(", ")})`);
  return found;
};
const runtime = stages.at(-1)!;
const entrypoint = last(runtime, "ENTRYPOINT")?.json ?? [];
const cmd = last(runtime, "CMD")?.json ?? [];
const OPA_VERSION = readFileSync(path.join(ROOT, "scripts/setup.sh"), "utf8").match(/^OPA_VERSION="([^"]+)"$/m)?.[1];

const cli = (args: string[]) => {
  // ENTRYPOINT ["node", "gateway/cli/main.ts"] from WORKDIR /app, where the image holds what the repo root holds.
  const [node, ...script] = entrypoint;
  expect(node).toBe("node");
  const result = spawnSync(process.execPath, [...script, ...args], { cwd: ROOT, encoding: "utf8", timeout: 30_000 });
  if (result.error) throw result.error;
  return result;
};

describe("the Dockerfile parser", () => {
  const sample = [
    "# syntax=docker/dockerfile:1",
    "ARG BASE=node:24-bookworm-slim",
    "FROM ${BASE} AS one",
    "RUN a \\",
    "  # a comment inside a continuation",
    "  && b \\",
    "",
    "  && c",
    "COPY --from=zero --chown=1:1 [\"src dir/\", \"dest/\"]",
    "HEALTHCHECK --interval=5s CMD [\"node\", \"-e\", \"1\"]",
    "FROM $BASE",
    'CMD ["serve", "--port", "8080"]',
    "ENTRYPOINT node main.ts",
  ].join("\n");
  const parsed = parseDockerfile(sample);

  it("joins continuations, dropping comment and empty lines inside them", () => {
    expect(parsed.stages[0]!.instructions[0]).toMatchObject({ keyword: "RUN", rest: "a && b && c", line: 4 });
  });

  it("substitutes global ARGs in FROM and reads AS names", () => {
    expect(parsed.stages.map((s) => [s.name, s.base])).toEqual([["one", "node:24-bookworm-slim"], [undefined, "node:24-bookworm-slim"]]);
  });

  it("splits flags and recognises exec forms (and shell forms as not)", () => {
    const copy = parsed.stages[0]!.instructions[1]!;
    expect(copy.flags).toEqual({ from: "zero", chown: "1:1" });
    expect(copyParts(copy)).toEqual({ sources: ["src dir/"], dest: "dest/" });
    expect(healthcheckCommand(parsed.stages[0]!.instructions[2]!)).toEqual(["node", "-e", "1"]);
    expect(parsed.stages[0]!.instructions[2]!.flags).toEqual({ interval: "5s" });
    expect(parsed.stages[1]!.instructions[0]!.json).toEqual(["serve", "--port", "8080"]);
    expect(parsed.stages[1]!.instructions[1]!.json).toBeUndefined();
  });
});

describe("the .dockerignore matcher", () => {
  const ignored = dockerignore("*\n!gateway/\n!policies\n**/dist\n**/*.log\n");
  it.each([
    ["gateway/cli/main.ts", false],
    ["gateway", false],
    ["policies/authz.rego", false],
    ["policies/dist/bundle.tar.gz", true],
    ["servers/notes/main.ts", true],
    ["node_modules/yaml/package.json", true],
    ["gateway/x/debug.log", true],
    ["README.md", true],
  ])("%s excluded: %s", (file, expected) => {
    expect(ignored(file)).toBe(expected);
  });
});

describe("the build context", () => {
  it("leaves out what is machine-local or generated", () => {
    for (const file of ["node_modules/yaml/package.json", ".tools/bin/helm", ".gatehouse/dev-issuer/jwks.json", ".git/HEAD", "policies/dist/bundle.tar.gz", "servers/notes/dist/main.mjs", "helm/gatehouse/Chart.yaml"]) {
      expect([file, isIgnored(file)]).toEqual([file, true]);
    }
  });

  it("holds every COPY source (outside --from) of every stage, and something under each folder", () => {
    const copies = stages.flatMap((s) => all(s, "COPY").filter((i) => i.flags.from === undefined));
    expect(copies.length).toBeGreaterThanOrEqual(5);
    for (const copy of copies) {
      for (const source of copyParts(copy).sources) {
        expect(source, `line ${copy.line}: wildcards are not checked here`).not.toMatch(/[*?[]/);
        const absolute = path.join(ROOT, source);
        expect([copy.line, source, existsSync(absolute)]).toEqual([copy.line, source, true]);
        expect([copy.line, source, isIgnored(source)]).toEqual([copy.line, source, false]);
        if (statSync(absolute).isDirectory()) {
          const kept = filesUnder(absolute, source.replace(/\/+$/, "")).filter((f) => !isIgnored(f));
          expect([copy.line, source, kept.length > 0]).toEqual([copy.line, source, true]);
        }
      }
    }
  });

  it("has no ADD (no remote or archive magic)", () => {
    expect(stages.flatMap((s) => all(s, "ADD"))).toEqual([]);
  });
});

describe("the stages", () => {
  it("are build, deps, opa, policy and runtime, on node:24-bookworm-slim and the pinned opa", () => {
    expect(stages.map((s) => s.name)).toEqual(["build", "deps", "opa", "policy", "runtime"]);
    for (const name of ["build", "deps", "policy", "runtime"]) expect([name, stage(name).base]).toEqual([name, "node:24-bookworm-slim"]);
    expect(OPA_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    expect(stage("opa").base).toBe(`openpolicyagent/opa:${OPA_VERSION}-static`);
    expect(globalArgs.NODE_IMAGE).toBe("node:24-bookworm-slim");
  });

  it("build: installs the locked dependencies and type-checks (type stripping needs no compile step)", () => {
    const runs = all(stage("build"), "RUN").map((r) => r.rest);
    expect(runs[0]).toMatch(/^npm ci\b/);
    expect(runs.some((r) => /\bnpm run typecheck\b/.test(r))).toBe(true);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.typecheck).toMatch(/^tsc --noEmit\b/);
  });

  it("deps: production dependencies only", () => {
    expect(all(stage("deps"), "RUN").map((r) => r.rest).join(" ")).toMatch(/npm ci --omit=dev\b/);
  });

  it("policy: runs `scripts/policy.sh build` with the opa binary of the pinned image", () => {
    const policy = stage("policy");
    expect(all(policy, "COPY").find((c) => c.flags.from === "opa")?.rest).toBe("/opa /usr/local/bin/opa");
    expect(all(policy, "RUN").map((r) => r.rest)).toEqual(["OPA=/usr/local/bin/opa bash scripts/policy.sh build"]);
    // policy.sh's default output is the path the runtime stage copies
    expect(readFileSync(path.join(ROOT, "scripts/policy.sh"), "utf8")).toContain('out="${POLICY_OUT:-policies/dist/bundle.tar.gz}"');
  });

  it("every COPY --from names an earlier stage, and copies something that stage made", () => {
    const made: Record<string, RegExp> = {
      // npm ci makes node_modules; policy.sh build makes the bundle; COPY destinations are made by COPY
      "node_modules": /\bnpm ci\b/,
      "policies/dist/bundle.tar.gz": /scripts\/policy\.sh build\b/,
    };
    for (const [index, current] of stages.entries()) {
      for (const copy of all(current, "COPY").filter((c) => c.flags.from !== undefined)) {
        const from = stages.findIndex((s) => s.name === copy.flags.from);
        expect([copy.line, from >= 0 && from < index]).toEqual([copy.line, true]);
        const source = stages[from]!;
        const workdir = last(source, "WORKDIR")?.rest ?? "/";
        for (const src of copyParts(copy).sources) {
          if (source.name === "opa") {
            expect(src).toBe("/opa"); // the static image's binary
            continue;
          }
          const relative = path.posix.relative(workdir, src);
          const copied = all(source, "COPY").some((c) => copyParts(c).dest.replace(/\/+$/, "").replace(/^\.\/?/, "") === relative || (copyParts(c).dest === "./" && copyParts(c).sources.includes(relative)));
          const built = made[relative] !== undefined && all(source, "RUN").some((r) => made[relative]!.test(r.rest));
          expect([copy.line, src, copied || built]).toEqual([copy.line, src, true]);
        }
      }
    }
  });
});

describe("the runtime stage", () => {
  it("runs as a non-root user (65532), the same uid the chart sets", () => {
    const user = last(runtime, "USER")?.rest;
    expect(user).toBe("65532:65532");
    const [uid] = user!.split(":");
    expect(uid).not.toMatch(/^(0|root)$/);
    const chart = render("minimal");
    expect(one(chart, "Deployment", GATEWAY).spec.template.spec.securityContext.runAsUser).toBe(Number(uid));
    // and nothing runs after USER that could need root
    const afterUser = runtime.instructions.slice(runtime.instructions.indexOf(last(runtime, "USER")!));
    expect(afterUser.filter((i) => i.keyword === "RUN")).toEqual([]);
  });

  it("copies only the gateway, package.json, the bundle and production node_modules", () => {
    const copies = all(runtime, "COPY").map((c) => [c.flags.from, ...copyParts(c).sources]);
    expect(copies).toEqual([
      ["deps", "/app/node_modules"],
      ["build", "/app/package.json"],
      ["build", "/app/gateway"],
      ["policy", "/app/policies/dist/bundle.tar.gz"],
    ]);
  });

  it("needs nothing at run time beyond gateway/ and production dependencies (the import graph of main.ts)", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    const seen = new Set<string>();
    const bare = new Set<string>();
    const queue = [path.join(ROOT, entrypoint[1]!)];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      // value imports and re-exports (type-only ones are erased by type stripping), and dynamic imports
      const specifiers = [...text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^;]*?\sfrom\s+)?["']([^"']+)["']/gm), ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!);
      for (const specifier of specifiers) {
        if (specifier.startsWith(".")) queue.push(path.resolve(path.dirname(file), specifier));
        else bare.add(specifier);
      }
    }
    expect(seen.size).toBeGreaterThan(20);
    const outside = [...seen].filter((f) => !f.startsWith(path.join(ROOT, "gateway") + path.sep));
    expect(outside).toEqual([]);
    const packageOf = (s: string) => (s.startsWith("@") ? s.split("/").slice(0, 2).join("/") : s.split("/")[0]!);
    const missing = [...bare].filter((s) => !s.startsWith("node:") && !builtinModules.includes(s) && pkg.dependencies[packageOf(s)] === undefined);
    expect(missing).toEqual([]);
  });

  it("keeps its writable data on a volume at the chart's dataDir, and ships the bundle where the chart points", () => {
    const chart = render("minimal");
    expect(last(runtime, "VOLUME")?.json).toEqual([gatewayConfig(chart).config.dataDir]);
    const workdir = last(runtime, "WORKDIR")?.rest;
    const bundle = all(runtime, "COPY").find((c) => c.flags.from === "policy")!;
    expect(path.posix.join(workdir!, copyParts(bundle).dest)).toBe((gatewayConfig(chart).config.policy as { bundle: string }).bundle);
    expect(last(runtime, "ENV")?.rest).toMatch(/\bHOME=\/tmp\b/);
  });

  it("EXPOSEs the port the CMD serves on, and the chart's container port", () => {
    expect(last(runtime, "EXPOSE")?.rest).toBe("8080");
    expect(cmd[cmd.indexOf("--port") + 1]).toBe("8080");
    expect(one(render("minimal"), "Deployment", GATEWAY).spec.template.spec.containers[0].ports[0].containerPort).toBe(8080);
  });
});

describe("ENTRYPOINT and CMD", () => {
  it("are node gateway/cli/main.ts serve --config /etc/gatehouse/gatehouse.yaml --host 0.0.0.0 --port 8080, the chart's args", () => {
    expect(entrypoint).toEqual(["node", "gateway/cli/main.ts"]);
    expect(cmd).toEqual(["serve", "--config", "/etc/gatehouse/gatehouse.yaml", "--host", "0.0.0.0", "--port", "8080"]);
    expect(one(render("minimal"), "Deployment", GATEWAY).spec.template.spec.containers[0].args).toEqual(cmd);
  });

  it("form a command gatehouse accepts: with --help it prints serve's usage and exits 0", () => {
    const result = cli([...cmd, "--help"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Usage: gatehouse serve /);
  });

  it("serve rejects an unknown flag (exit 2), so the check above could fail", () => {
    const result = cli([...cmd, "--bogus-flag", "--help"]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/Unknown option '--bogus-flag'/);
  });

  it("every flag parses and the port is valid: serve gets as far as loading the config (here a bad one: exit 1)", () => {
    const args = [...cmd];
    args[args.indexOf("--config") + 1] = tempFile("gatehouse.yaml", "bogus: true\n");
    const result = cli(args);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/unknown key "bogus"/);
    // while a bad port stops it before the config (exit 2)
    args[args.indexOf("--port") + 1] = "80800";
    expect(cli(args)).toMatchObject({ status: 2, stderr: expect.stringMatching(/--port must be an integer/) });
  });
});

describe("HEALTHCHECK", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  const healthcheck = last(runtime, "HEALTHCHECK");
  const command = healthcheck === undefined ? undefined : healthcheckCommand(healthcheck);

  /** Runs the healthcheck's command against a local server standing in for the gateway (on a free port). */
  async function probe(status: number | "closed"): Promise<{ code: number | null; paths: string[] }> {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? "");
      res.writeHead(status === "closed" ? 500 : status).end("{}");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    if (status === "closed") await new Promise((resolve) => server.close(resolve));
    else servers.push(server);
    const [node, ...args] = command!;
    expect(node).toBe("node");
    const script = args.map((a) => a.replace("127.0.0.1:8080", `127.0.0.1:${port}`));
    expect(script).not.toEqual(args); // the port was really replaced
    // spawn, not spawnSync: this process's server must keep answering while the check runs
    const child = spawn(process.execPath, script, { stdio: "ignore" });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    return { code, paths };
  }

  it("exists in the final stage, in exec form, probing http://127.0.0.1:8080/healthz with node's fetch", () => {
    expect(command).toBeDefined();
    expect(command![0]).toBe("node");
    expect(command!.join(" ")).toContain("fetch('http://127.0.0.1:8080/healthz')");
    expect(healthcheck!.flags).toMatchObject({ interval: "30s", timeout: "5s" });
  });

  it("exits 0 when /healthz answers 200", async () => {
    expect(await probe(200)).toEqual({ code: 0, paths: ["/healthz"] });
  });

  it("exits 1 when /healthz answers 503, and when nothing listens", async () => {
    expect(await probe(503)).toEqual({ code: 1, paths: ["/healthz"] });
    expect((await probe("closed")).code).toBe(1);
  });
});
