/**
 * Container lifecycles with the real podman: per-session instances (the cap, idle reaping, release when the
 * session ends), and a gateway killed with SIGKILL whose containers the next start removes.
 */
import { existsSync, mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONTAINER_LABEL, createBackend, ownerId, planContainers } from "../gateway/upstream/index.ts";
import { RecordingHooks } from "../gateway/upstream/testing.ts";
import { SHIPPED_IMAGES, containersOf, engineCommand, inspectContainer } from "./helpers/containers.ts";
import { configFrom, connectClient, startGateway, waitFor, type RunningGateway } from "./helpers/gateway.ts";
import { startGatehouseProcess, waitForOutput } from "./helpers/processes.ts";

async function hostnameOf(client: Client): Promise<string> {
  const result = await client.callTool({ name: "whoami", arguments: {} });
  if (result.isError === true) throw new Error(JSON.stringify(result.content));
  return (result.structuredContent as { hostname: string }).hostname;
}

describe("per-session containers", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "gh-per-session-"));
  const owner = ownerId(dataDir);
  let running: RunningGateway;
  const clients: Client[] = [];

  beforeAll(async () => {
    running = await startGateway(
      configFrom(`
dataDir: ${dataDir}
servers:
  - name: probe
    transport: container
    image: ${SHIPPED_IMAGES.probe}
    pull: never
    scope: per-session
    maxInstances: 2
    idleTimeoutMs: 5000
`),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((client) => client.close()));
    await running?.close();
  });

  async function client(): Promise<Client> {
    const connected = await connectClient(running.url);
    clients.push(connected);
    return connected;
  }

  it("gives each session its own container, up to the cap, and refuses the next one clearly", async () => {
    const [a, b, c] = [await client(), await client(), await client()];
    const hostA = await hostnameOf(a);
    const hostB = await hostnameOf(b);
    expect(hostA).not.toBe(hostB);
    // The same session keeps its container.
    expect(await hostnameOf(a)).toBe(hostA);
    expect(await containersOf(owner, "probe")).toHaveLength(2);

    const refused = await c.callTool({ name: "whoami", arguments: {} }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(refused?.message).toContain('server "probe" runs one container per session and all 2 are in use');
    const labels = (await inspectContainer((await containersOf(owner, "probe"))[0]!)).Config.Labels;
    expect(labels[CONTAINER_LABEL.scope]).toBe("per-session");

    // A session that ends (DELETE) frees its container, while b's, idle for longer, stays: so it was not idle reaping.
    await hostnameOf(b);
    await hostnameOf(a);
    await (a.transport as StreamableHTTPClientTransport).terminateSession();
    await waitFor(async () => ((await containersOf(owner, "probe")).length === 1 ? true : undefined), 15_000, "a's container to go");
    expect(await hostnameOf(b)).toBe(hostB);
    const hostC = await hostnameOf(c);
    expect([hostA, hostB]).not.toContain(hostC);
  });

  it("reaps containers that sit idle, and starts a fresh one on the next call", async () => {
    await waitFor(async () => ((await containersOf(owner, "probe")).length === 0 ? true : undefined), 15_000, "idle containers to be reaped");
    const d = await client();
    expect(await hostnameOf(d)).toMatch(/\S/);
    expect(await containersOf(owner, "probe")).toHaveLength(1);
  });
});

describe("a per-session server whose image is not there yet", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "gh-late-image-"));
  const late = `localhost/gatehouse-late-${process.pid}:latest`;
  afterAll(() => engineCommand(["rmi", "--force", late]).catch(() => undefined));

  it("keeps trying, and serves once the image appears", async () => {
    const config = configFrom(`dataDir: ${dataDir}\nservers:\n  - { name: late, transport: container, image: "${late}", pull: never, scope: per-session }\n`);
    const plan = await planContainers(config);
    const backend = createBackend(plan.servers[0]!, new RecordingHooks(), { configDir: config.configDir, backoff: { baseMs: 100, capMs: 500 }, containers: plan.context! });
    try {
      await expect(backend.start()).rejects.toThrow(/is not present and pull is never/);
      expect(backend.state).toBe("restarting");
      await engineCommand(["tag", SHIPPED_IMAGES.probe, late]);
      await waitFor(() => (backend.state === "ready" ? true : undefined), 20_000, "the late image to be picked up");
      expect(backend.catalog.tools.map((tool) => tool.name)).toContain("whoami");
      const result = await backend.request("tools/call", { name: "whoami", arguments: {} }, { owner: { sessionId: "s1" } });
      expect((result.structuredContent as { uid: number }).uid).toBe(65532);
    } finally {
      await backend.stop();
    }
  }, 60_000);
});

describe("a gateway killed with SIGKILL", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "gh-orphans-"));
  const owner = ownerId(dataDir);
  const configFile = path.join(dataDir, "gatehouse.yaml");

  beforeAll(() => {
    writeFileSync(
      configFile,
      `
dataDir: ${dataDir}
audit: { enabled: false }
servers:
  - name: probe
    transport: container
    image: ${SHIPPED_IMAGES.probe}
    pull: never
  - name: clock
    transport: container
    image: ${SHIPPED_IMAGES.clock}
    pull: never
`,
    );
  });

  it("containers that notice go by themselves, a hung one is left, and the next start removes it; a clean stop leaves none", async () => {
    const first = await startGatehouseProcess(["--config", configFile, "--insecure-no-auth"], { GATEHOUSE_LOG_LEVEL: "info" });
    await waitFor(async () => ((await containersOf(owner)).length === 2 ? true : undefined), 30_000, "two containers");
    const [probe] = await containersOf(owner, "probe");
    const [clock] = await containersOf(owner, "clock");
    // The container's stderr reaches the gateway's log, tagged with the server's name.
    await waitForOutput(first.child, /"server":"probe"[^\n]*"stderr":"[^"]*probe/);

    // A hung backend never notices its stdin closing: that is the container a dead gateway leaves behind.
    await engineCommand(["pause", clock!]);
    first.child.process.kill("SIGKILL");
    await new Promise((resolve) => first.child.process.once("exit", resolve));
    // The healthy one sees stdin close when the engine CLI loses its parent, exits, and --rm removes it.
    await waitFor(async () => ((await containersOf(owner, "probe")).length === 0 ? true : undefined), 20_000, "the probe container to exit");
    expect(await containersOf(owner)).toEqual([clock]);

    const second = await startGatehouseProcess(["--config", configFile, "--insecure-no-auth"], { GATEHOUSE_LOG_LEVEL: "info" });
    try {
      await waitForOutput(second.child, /"removed":\["clock [0-9a-f]{12}"\][^\n]*removed containers left by a gateway that is gone/);
      const now = await waitFor(async () => {
        const ids = await containersOf(owner);
        return ids.length === 2 && !ids.includes(clock!) && !ids.includes(probe!) ? ids : undefined;
      }, 30_000, "two new containers and no orphan");
      for (const id of now) {
        expect((await inspectContainer(id)).Config.Labels[CONTAINER_LABEL.pid]).toBe(String(second.child.process.pid));
      }
      const client = await connectClient(second.url);
      expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(expect.arrayContaining(["probe__whoami", "clock__now"]));
      await client.close();
    } finally {
      expect(await second.child.stop("SIGTERM")).toBe(0);
    }
    expect(await containersOf(owner)).toEqual([]);
  }, 120_000);
});

describe("containers that must not start", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "gh-refusals-"));
  const allowed = mkdtempSync(path.join(tmpdir(), "gh-refusals-allowed-"));

  /** Starts one container server through the real upstream layer and returns why it failed, or "started". */
  async function startOutcome(serverYaml: string, gatewayDataDir = dataDir): Promise<string> {
    const config = configFrom(`dataDir: ${gatewayDataDir}\ncontainer: { allowedRoots: [${allowed}] }\nservers:\n${serverYaml}`);
    const plan = await planContainers(config);
    const backend = createBackend(plan.servers[0]!, new RecordingHooks(), { configDir: config.configDir, backoff: { baseMs: 60_000 }, ...(plan.context ? { containers: plan.context } : {}) });
    try {
      await backend.start();
      return "started";
    } catch (error) {
      return (error as Error).message;
    } finally {
      await backend.stop();
    }
  }

  it("runs an image whose digest matches the pin, and refuses one that does not", async () => {
    const digest = (await engineCommand(["image", "inspect", "--format", "{{.Digest}}", SHIPPED_IMAGES.clock])).trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const pinned = (pin: string) => `  - { name: clock, transport: container, image: ${SHIPPED_IMAGES.clock}, pull: never, digest: "${pin}" }\n`;
    expect(await startOutcome(pinned(digest))).toBe("started");
    const other = `sha256:${"0".repeat(64)}`;
    expect(await startOutcome(pinned(other))).toBe(
      `server "clock" failed to start: image ${SHIPPED_IMAGES.clock} does not match the pinned digest ${other} (it has ${digest})`,
    );
  });

  it("pulls an absent pinned image by its digest, never by its tag, and refuses when that fails", async () => {
    const digest = `sha256:${"1".repeat(64)}`;
    expect(await startOutcome(`  - { name: ghost, transport: container, image: "localhost/gatehouse-ghost:latest", digest: "${digest}" }\n`)).toMatch(
      new RegExp(`^server "ghost" failed to start: image localhost/gatehouse-ghost:latest is not present, and pulling localhost/gatehouse-ghost@${digest} failed: .+$`),
    );
  });

  it("refuses an image that is not there when pull is never, saying so", async () => {
    expect(await startOutcome(`  - { name: ghost, transport: container, image: localhost/gatehouse-ghost:latest, pull: never }\n`)).toMatch(
      /^server "ghost" failed to start: image localhost\/gatehouse-ghost:latest is not present and pull is never \(.+\)$/,
    );
  });

  it("refuses a volume under an allowed root that is a symlink to somewhere else", async () => {
    symlinkSync("/etc", path.join(allowed, "escape"));
    const server = (host: string) => `  - name: notes\n    transport: container\n    image: ${SHIPPED_IMAGES.notes}\n    pull: never\n    volumes: [{ host: ${host}, container: /data }]\n`;
    expect(await startOutcome(server(`${allowed}/escape`))).toBe(
      `server "notes" failed to start: volume ${allowed}/escape resolves to /etc, outside container.allowedRoots`,
    );
    // Checked before anything is created: a folder below the symlink would otherwise appear under /etc.
    expect(await startOutcome(server(`${allowed}/escape/gatehouse-created/deep`))).toBe(
      `server "notes" failed to start: volume ${allowed}/escape/gatehouse-created/deep resolves to /etc/gatehouse-created/deep, outside container.allowedRoots`,
    );
    expect(existsSync("/etc/gatehouse-created")).toBe(false);
  });

  it("refuses a volume under an allowed root that is a symlink into the gateway's own state (keys, audit log)", async () => {
    // The gateway's dataDir lies under the allowed root itself (allowedRoots: [/srv], dataDir: /srv/gatehouse).
    const stateDir = path.join(allowed, "gatehouse");
    mkdirSync(stateDir);
    symlinkSync(stateDir, path.join(allowed, "state"));
    const server = (host: string) => `  - name: notes\n    transport: container\n    image: ${SHIPPED_IMAGES.notes}\n    pull: never\n    volumes: [{ host: ${host}, container: /data }]\n`;
    const real = realpathSync(stateDir);
    expect(await startOutcome(server(`${allowed}/state`), stateDir)).toBe(
      `server "notes" failed to start: volume ${allowed}/state resolves to ${real}, which would expose the gateway's own dataDir ${real}`,
    );
    expect(await startOutcome(server(`${allowed}/state/audit`), stateDir)).toMatch(/which would expose the gateway's own dataDir/);
    // <dataDir>/volumes is where server data may live, also when reached through a symlink.
    expect(await startOutcome(server(`${allowed}/state/volumes/notes`), stateDir)).toBe("started");
  });
});

describe("reloading a container server", () => {
  it("replaces its container with one that has the new settings, and removes the old one", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "gh-reload-"));
    const owner = ownerId(dataDir);
    const yaml = (memory: string) =>
      `dataDir: ${dataDir}\nservers:\n  - { name: clock, transport: container, image: ${SHIPPED_IMAGES.clock}, pull: never, resources: { memory: ${memory} } }\n`;
    const running = await startGateway(configFrom(yaml("128m")));
    const client = await connectClient(running.url);
    try {
      const [before] = await containersOf(owner, "clock");
      expect((await inspectContainer(before!)).HostConfig.Memory).toBe(128 * 1024 * 1024);
      expect(await running.gateway.reload(configFrom(yaml("192m")))).toEqual({ ok: true, changed: ["clock"] });
      const after = await containersOf(owner, "clock");
      expect(after).toHaveLength(1);
      expect(after[0]).not.toBe(before);
      expect((await inspectContainer(after[0]!)).HostConfig.Memory).toBe(192 * 1024 * 1024);
      expect((await client.callTool({ name: "now", arguments: {} })).isError).not.toBe(true);
    } finally {
      await client.close();
      await running.close();
    }
    expect(await containersOf(owner)).toEqual([]);
  }, 60_000);
});
