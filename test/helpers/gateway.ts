/**
 * Test harness: a real Gateway on a real loopback port, with real backends, driven by real clients.
 * In-process for speed; test/helpers/process.ts runs the CLI as a child when a test needs a real process.
 */
import { serve } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Server } from "node:http";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parseConfigText, type ResolvedConfig } from "../../gateway/config/index.ts";
import { Gateway } from "../../gateway/gateway.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const EVERYTHING = `${ROOT}node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
export const FILESYSTEM = `${ROOT}node_modules/@modelcontextprotocol/server-filesystem/dist/index.js`;
export const FLAKY = `${ROOT}test/fixtures/flaky-server.ts`;
export const NOTES = `${ROOT}servers/notes/main.ts`;

export function configFrom(yaml: string, file = `${ROOT}test/inline.yaml`): ResolvedConfig {
  const result = parseConfigText(yaml, { file, baseDir: ROOT });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

export interface RunningGateway {
  gateway: Gateway;
  url: string;
  close(): Promise<void>;
}

/**
 * A config without an identity section runs with insecureNoAuth, as `serve --insecure-no-auth` would. Unless the
 * config names an audit.dir, each gateway gets a fresh one: tests run gateways side by side, and one directory
 * takes one writer.
 */
export async function startGateway(config: ResolvedConfig | string): Promise<RunningGateway> {
  let resolved = typeof config === "string" ? configFrom(config) : config;
  if (resolved.audit.dir === path.join(resolved.dataDir, "audit")) {
    resolved = { ...resolved, audit: { ...resolved.audit, dir: mkdtempSync(path.join(tmpdir(), "gatehouse-audit-")) } };
  }
  const gateway = await Gateway.start(resolved, { startupTimeoutMs: 20_000, insecureNoAuth: resolved.identity === undefined });
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: gateway.httpApp().fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s as Server)) as Server;
  });
  const { port } = server.address() as AddressInfo;
  return {
    gateway,
    url: `http://127.0.0.1:${port}/mcp`,
    async close() {
      await gateway.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type ClientCapabilitiesInit = ConstructorParameters<typeof Client>[1];

export async function connectClient(url: string, name = "test-client", options: ClientCapabilitiesInit = {}, token?: string): Promise<Client> {
  const client = new Client({ name, version: "1.0.0" }, options);
  const requestInit = token === undefined ? undefined : { headers: { authorization: `Bearer ${token}` } };
  await client.connect(new StreamableHTTPClientTransport(new URL(url), requestInit === undefined ? undefined : { requestInit }));
  return client;
}

/** Polls until `check` returns a value, for at most `timeoutMs`: every wait in these tests is bounded. */
export async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
