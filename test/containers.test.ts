/**
 * Backends as real containers: the images `npm run servers:build` makes from servers/, run by the real podman
 * (setup installs podman and runc), called through the gateway by the SDK client. Isolation is proven from inside
 * the container with the probe server's tools, and from outside with `podman inspect`.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import path from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownerId } from "../gateway/upstream/index.ts";
import { SHIPPED_IMAGES, containersOf, engineCommand, inspectContainer } from "./helpers/containers.ts";
import { configFrom, connectClient, startGateway, waitFor, type RunningGateway } from "./helpers/gateway.ts";

type Structured = Record<string, unknown>;

async function structured(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Structured> {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError === true) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return result.structuredContent as Structured;
}

/** A TCP listener on the host that counts who reached it. */
async function listener(host: string): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { server, port: address.port, connections: () => connections };
}

function hostAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((nic) => nic !== undefined && nic.family === "IPv4" && !nic.internal)?.address;
}

describe("shipped servers as shared containers behind the gateway", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "gh-containers-"));
  const owner = ownerId(dataDir);
  let running: RunningGateway;
  let client: Client;
  let stopped = false;

  beforeAll(async () => {
    running = await startGateway(
      configFrom(`
dataDir: ${dataDir}
container:
  allowedRoots: [${dataDir}/volumes]
servers:
  - name: notes
    transport: container
    image: ${SHIPPED_IMAGES.notes}
    pull: never
    env: { NOTES_DIR: /data }
    volumes: [{ host: ${dataDir}/volumes/notes, container: /data, readOnly: false }]
  - name: probe
    transport: container
    image: ${SHIPPED_IMAGES.probe}
    pull: never
    resources: { memory: 256m, cpus: 0.5, pids: 128 }
    healthCheck: { intervalMs: 500, timeoutMs: 400 }
  - name: clock
    transport: container
    image: ${SHIPPED_IMAGES.clock}
    pull: never
`),
    );
    client = await connectClient(running.url);
  }, 60_000);

  afterAll(async () => {
    if (stopped) return;
    await client?.close();
    await running?.close();
  });

  it("lists every shipped server's tools and calls them; notes persist in the host volume", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(["notes__write_note", "notes__delete_note", "probe__whoami", "probe__connect", "clock__countdown"]));
    expect(tools.find((tool) => tool.name === "notes__delete_note")?.annotations?.destructiveHint).toBe(true);
    expect(tools.find((tool) => tool.name === "probe__whoami")?.annotations?.readOnlyHint).toBe(true);

    await client.callTool({ name: "notes__write_note", arguments: { id: "hello", text: "# from a container" } });
    const read = await client.callTool({ name: "notes__read_note", arguments: { id: "hello" } });
    expect(read.content).toEqual([{ type: "text", text: "# from a container" }]);
    expect(readFileSync(path.join(dataDir, "volumes", "notes", "hello.md"), "utf8")).toBe("# from a container");
  });

  it("relays progress from a container to the caller", async () => {
    const seen: number[] = [];
    const result = await client.callTool({ name: "clock__countdown", arguments: { seconds: 3, stepMs: 20 } }, undefined, {
      onprogress: (progress) => seen.push(progress.progress),
    });
    expect(result.isError).not.toBe(true);
    expect(seen).toEqual([1, 2, 3]);
  });

  it("isolation, from inside: not root, no capabilities, read-only root, limits applied", async () => {
    const me = await structured(client, "probe__whoami");
    expect(me.uid).toBe(65532);
    expect(me.gid).toBe(65532);
    expect(me.capEff).toBe("0000000000000000");
    expect(me.capBnd).toBe("0000000000000000");
    expect(me.noNewPrivs).toBe(1);
    expect(me.rootReadOnly).toBe(true);
    expect(me.cgroupPidsMax).toBe(128);
    expect(me.cgroupMemoryMax).toBe(256 * 1024 * 1024);
    // --network none: a network namespace with nothing but its own loopback.
    expect(me.networkInterfaces).toEqual(["lo"]);

    expect(await structured(client, "probe__try_write", { path: "/etc/gatehouse-was-here" })).toMatchObject({ outcome: "error", code: "EROFS" });
    expect(await structured(client, "probe__try_write", { path: "/app/main.mjs.new" })).toMatchObject({ outcome: "error", code: "EROFS" });
    expect(await structured(client, "probe__try_write", { path: "/tmp/scratch" })).toMatchObject({ outcome: "written" });
  });

  it("isolation, from inside: the network tool reaches neither a host loopback port nor the host's address", async () => {
    const loopback = await listener("127.0.0.1");
    const everywhere = await listener("0.0.0.0");
    try {
      const local = await structured(client, "probe__connect", { url: `http://127.0.0.1:${loopback.port}/`, timeoutMs: 2000 });
      expect(local).toMatchObject({ outcome: "error", code: "ECONNREFUSED" });
      const address = hostAddress();
      if (address !== undefined) {
        const remote = await structured(client, "probe__connect", { url: `http://${address}:${everywhere.port}/`, timeoutMs: 2000 });
        expect(remote).toMatchObject({ outcome: "error" });
        expect(remote.code).toMatch(/ENETUNREACH|ETIMEDOUT|EHOSTUNREACH/);
      }
      const named = await structured(client, "probe__connect", { url: "https://registry.npmjs.org/", timeoutMs: 2000 });
      expect(named).toMatchObject({ outcome: "error" });
      expect(named.code).toMatch(/EAI_AGAIN|ENOTFOUND/);
      expect(loopback.connections() + everywhere.connections()).toBe(0);
    } finally {
      loopback.server.close();
      everywhere.server.close();
    }
  });

  it("podman inspect shows the hardening flags and the gateway's labels", async () => {
    const [id] = await containersOf(owner, "probe");
    const container = await inspectContainer(id!);
    expect(container.HostConfig.ReadonlyRootfs).toBe(true);
    expect(container.HostConfig.Privileged).toBe(false);
    expect(container.HostConfig.CapAdd ?? []).toEqual([]);
    // podman lists the default capabilities it dropped (all of them: none is left); EffectiveCaps is null for the same reason.
    const defaults = ["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"];
    expect(container.HostConfig.CapDrop).toEqual(expect.arrayContaining(defaults));
    expect(container.EffectiveCaps ?? []).toEqual([]);
    expect(container.HostConfig.SecurityOpt).toEqual(expect.arrayContaining(["no-new-privileges"]));
    expect(container.Config.User).toBe("65532:65532");
    expect(container.HostConfig.Memory).toBe(256 * 1024 * 1024);
    expect(container.HostConfig.NanoCpus).toBe(500_000_000);
    expect(container.HostConfig.PidsLimit).toBe(128);
    expect(container.HostConfig.NetworkMode).toBe("none");
    expect(Object.keys(container.HostConfig.Tmpfs ?? {})).toEqual(["/tmp"]);
    expect(container.HostConfig.LogConfig.Type).toBe("none");
    expect(container.Config.Labels).toMatchObject({
      "io.gatehouse.managed": "true",
      "io.gatehouse.owner": owner,
      "io.gatehouse.pid": String(process.pid),
      "io.gatehouse.server": "probe",
      "io.gatehouse.scope": "shared",
    });
  });

  it("a crashed container fails its call with the server's name, then comes back as a new container", async () => {
    const [before] = await containersOf(owner, "probe");
    const crashed = await client.callTool({ name: "probe__crash", arguments: {} }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(crashed?.message).toMatch(/server "probe".*(exit code 70|exited)/);
    await waitFor(() => running.gateway.backend("probe")?.state === "ready" || undefined, 20_000, "probe back");
    const me = await structured(client, "probe__whoami");
    expect(me.uid).toBe(65532);
    const after = await containersOf(owner, "probe");
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
  });

  it("a hung container fails its health check (MCP ping) and is replaced", async () => {
    const [hung] = await containersOf(owner, "probe");
    await engineCommand(["pause", hung!]);
    await waitFor(async () => {
      const now = await containersOf(owner, "probe");
      return (now.length === 1 && now[0] !== hung && running.gateway.backend("probe")?.state === "ready") || undefined;
    }, 20_000, "a new probe container");
    expect((await structured(client, "probe__whoami")).uid).toBe(65532);
    expect(await containersOf(owner, "probe")).not.toContain(hung);
  });

  it("ends every container when the gateway stops", async () => {
    expect((await containersOf(owner)).length).toBe(3);
    stopped = true;
    await client.close();
    await running.close();
    expect(await containersOf(owner)).toEqual([]);
  });
});
