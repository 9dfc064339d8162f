// `npm run servers:build`: builds the container images of the MCP servers in servers/, offline.
//   1. bundles each servers/<name>/main.ts with its packages into servers/<name>/dist/main.mjs (rolldown), checks
//      that the bundle loads nothing but Node builtins, and starts it once from a directory without node_modules;
//   2. builds localhost/gatehouse-node:24 FROM scratch out of this very node binary, the shared libraries ldd
//      lists for it and a minimal /etc/passwd and /etc/group (no registry is needed, or reachable);
//   3. builds localhost/gatehouse-<name>:latest from servers/<name>/Containerfile on top of it.
// The engine is GATEHOUSE_CONTAINER_RUNTIME (podman or docker), else the first of podman, docker on PATH.
// Run with node 24 (node_modules/.bin/node, or through npm): the base image is that node.
import { build } from "rolldown";
import { parseAst } from "rolldown/parseAst";
import { execFile, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { moduleReferences, nonBuiltinSpecifiers, parseLddOutput } from "../servers/shared/image-inputs.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SERVERS = ["notes", "probe", "clock"];
const NODE_MAJOR = 24;
const BASE_IMAGE = `localhost/gatehouse-node:${NODE_MAJOR}`;
const BASE_CONTEXT = join(ROOT, ".tools", "images", "node-base");
const APP_ID = 65532;
const ENGINES = ["podman", "docker"] as const;
type Engine = (typeof ENGINES)[number];

/** A failure worth a clear message and exit 1, as opposed to a bug (which keeps its stack trace). */
class BuildFailure extends Error {}

function log(message: string): void {
  console.error(`servers:build: ${message}`);
}

function seconds(since: number): number {
  return (performance.now() - since) / 1000;
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((directory) => {
    try {
      accessSync(join(directory, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function pickEngine(): Engine {
  const wanted = process.env.GATEHOUSE_CONTAINER_RUNTIME;
  if (wanted) {
    if (!(ENGINES as readonly string[]).includes(wanted)) {
      throw new BuildFailure(`GATEHOUSE_CONTAINER_RUNTIME must be podman or docker, not ${JSON.stringify(wanted)}`);
    }
    if (!onPath(wanted)) throw new BuildFailure(`GATEHOUSE_CONTAINER_RUNTIME=${wanted}, but ${wanted} is not on PATH`);
    return wanted as Engine;
  }
  const found = ENGINES.find(onPath);
  if (!found) throw new BuildFailure("no container engine: install podman or docker (or set GATEHOUSE_CONTAINER_RUNTIME)");
  return found;
}

/** Runs a command to completion; a non-zero exit becomes a BuildFailure carrying the command's own words. */
function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const said = `${stderr}\n${stdout}`.trim().split("\n").slice(-20).join("\n");
      reject(new BuildFailure(`${command} ${args.join(" ")} failed (${error.code ?? error.message}):\n${said}`));
    });
  });
}

// ---- 1. bundles ---------------------------------------------------------------------------------------------

async function bundle(name: string): Promise<string> {
  const file = join(ROOT, "servers", name, "dist", "main.mjs");
  const output = await build({
    input: join(ROOT, "servers", name, "main.ts"),
    platform: "node",
    logLevel: "warn",
    output: { file, format: "esm", codeSplitting: false },
  }).catch((error: unknown) => {
    throw new BuildFailure(`bundling servers/${name}/main.ts failed: ${error instanceof Error ? error.message : error}`);
  });
  if (output.output.length !== 1) throw new BuildFailure(`servers/${name}: expected one bundle file, got ${output.output.length}`);
  const references = moduleReferences(parseAst(await readFile(file, "utf8")));
  const outside = nonBuiltinSpecifiers(references.specifiers);
  if (outside.length) {
    throw new BuildFailure(`servers/${name}/dist/main.mjs still loads ${outside.join(", ")}, which the image will not have`);
  }
  if (references.computed) log(`${name}: ${references.computed} import()/require() with a computed name left unchecked`);
  return file;
}

/** Starts a bundle from an empty directory (no node_modules to fall back on) and waits for its initialize answer. */
async function smokeTest(name: string, bundleFile: string): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), `gatehouse-${name}-`));
  try {
    const copy = join(directory, "main.mjs");
    await copyFile(bundleFile, copy);
    const child = spawn(process.execPath, [copy], { cwd: directory, env: { PATH: "/usr/bin:/bin" }, stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const initialize = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "servers-build", version: "0" } },
    };
    child.stdin.write(`${JSON.stringify(initialize)}\n`);
    // Wait for the answer before closing stdin: a closed stdin makes the server exit, answered or not.
    const answered = () => stdout.split("\n").some((line) => line.includes('"id":1') && line.includes('"serverInfo"'));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      child.stdout.on("data", () => {
        if (answered()) child.stdin.end();
      });
      child.once("exit", (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    if (code !== 0 || !answered()) {
      throw new BuildFailure(`servers/${name}/dist/main.mjs did not answer initialize (exit ${code}):\n${stderr.trim()}`);
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

// ---- 2. base image --------------------------------------------------------------------------------------------

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\napp:x:${APP_ID}:${APP_ID}:app:/app:/sbin/nologin\n`;
const GROUP = `root:x:0:\napp:x:${APP_ID}:\n`;

function baseContainerfile(): string {
  return [
    "# Generated by scripts/build-servers.ts: edits here are overwritten.",
    "FROM scratch",
    "COPY rootfs/ /",
    `LABEL io.gatehouse.image="node-base" io.gatehouse.node-version="${process.version}"`,
    `USER ${APP_ID}:${APP_ID}`,
    'ENTRYPOINT ["/usr/local/bin/node"]',
    "",
  ].join("\n");
}

/** Where each file of the base image comes from: image path → host path (symlinks are followed when copying). */
async function baseImageFiles(): Promise<Map<string, string>> {
  const ldd = await run("ldd", [process.execPath]).catch((error: unknown) => {
    throw new BuildFailure(`ldd ${process.execPath} failed; the base image needs a Linux host with ldd.\n${error}`);
  });
  const libraries = parseLddOutput(ldd);
  if (libraries.missing.length) throw new BuildFailure(`ldd cannot find ${libraries.missing.join(", ")} for ${process.execPath}`);
  const files = new Map<string, string>([["/usr/local/bin/node", process.execPath]]);
  for (const path of libraries.paths) files.set(path, path);
  return files;
}

/**
 * Lays out .tools/images/node-base/ (Containerfile + rootfs/). Rewritten only when its inputs changed, so an
 * unchanged base is a cache hit for the engine and costs no copying.
 */
async function prepareBaseContext(): Promise<string> {
  const files = await baseImageFiles();
  const fingerprint: Record<string, string> = {};
  for (const [imagePath, hostPath] of files) {
    const info = await stat(hostPath);
    fingerprint[imagePath] = `${hostPath} ${info.size} ${info.mtimeMs}`;
  }
  const manifest = JSON.stringify({ fingerprint, passwd: PASSWD, group: GROUP, containerfile: baseContainerfile() }, null, 2);
  const manifestFile = join(BASE_CONTEXT, "manifest.json");
  if ((await readFile(manifestFile, "utf8").catch(() => "")) === manifest) return BASE_CONTEXT;

  log(`laying out the base image from ${process.execPath} and ${files.size - 1} libraries`);
  await rm(BASE_CONTEXT, { recursive: true, force: true });
  const rootfs = join(BASE_CONTEXT, "rootfs");
  for (const [imagePath, hostPath] of files) {
    const target = join(rootfs, imagePath);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(hostPath, target); // follows symlinks: the image gets the real file at the listed path
    await chmod(target, 0o755);
  }
  await mkdir(join(rootfs, "etc"), { recursive: true });
  await writeFile(join(rootfs, "etc", "passwd"), PASSWD, { mode: 0o644 });
  await writeFile(join(rootfs, "etc", "group"), GROUP, { mode: 0o644 });
  await mkdir(join(rootfs, "tmp"));
  await chmod(join(rootfs, "tmp"), 0o1777);
  await writeFile(join(BASE_CONTEXT, "Containerfile"), baseContainerfile());
  await writeFile(manifestFile, manifest); // last: a half-written context is laid out again next time
  return BASE_CONTEXT;
}

// ---- 3. images ------------------------------------------------------------------------------------------------

interface BuiltImage {
  image: string;
  bytes: number;
  buildSeconds: number;
}

async function buildImage(engine: Engine, image: string, context: string): Promise<BuiltImage> {
  const started = performance.now();
  // podman would otherwise try a registry for localhost/gatehouse-node; docker only pulls when told to.
  const pull = engine === "podman" ? ["--pull=never"] : [];
  await run(engine, ["build", ...pull, "--file", join(context, "Containerfile"), "--tag", image, context]);
  const buildSeconds = seconds(started);
  const size = (await run(engine, ["image", "inspect", "--format", "{{.Size}}", image])).trim();
  return { image, bytes: Number(size), buildSeconds };
}

function printTable(rows: BuiltImage[]): void {
  const width = Math.max(...rows.map((row) => row.image.length), "image".length);
  const lines = [`${"image".padEnd(width)}  ${"size".padStart(9)}  ${"build".padStart(7)}`];
  for (const row of rows) {
    const size = `${(row.bytes / 1e6).toFixed(1)} MB`;
    lines.push(`${row.image.padEnd(width)}  ${size.padStart(9)}  ${`${row.buildSeconds.toFixed(1)} s`.padStart(7)}`);
  }
  console.log(lines.join("\n"));
}

async function main(): Promise<void> {
  const major = Number(process.versions.node.split(".")[0]);
  if (major !== NODE_MAJOR) {
    throw new BuildFailure(`running on node ${process.version}: the base image is ${BASE_IMAGE}, so run this with node ${NODE_MAJOR} (node_modules/.bin/node)`);
  }
  const engine = pickEngine();
  log(`engine: ${engine}`);

  const started = performance.now();
  for (const name of SERVERS) {
    const file = await bundle(name);
    await smokeTest(name, file);
  }
  log(`bundled and smoke-tested ${SERVERS.join(", ")} in ${seconds(started).toFixed(1)} s`);

  const rows = [await buildImage(engine, BASE_IMAGE, await prepareBaseContext())];
  for (const name of SERVERS) {
    rows.push(await buildImage(engine, `localhost/gatehouse-${name}:latest`, join(ROOT, "servers", name)));
  }
  printTable(rows);
}

try {
  await main();
} catch (error) {
  if (!(error instanceof BuildFailure)) throw error;
  log(error.message);
  process.exit(1);
}
