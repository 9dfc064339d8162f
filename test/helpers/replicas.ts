/**
 * Gateway replicas for scale-out tests: real `gatehouse serve` processes sharing one Redis, and an SDK client whose
 * requests a test steers to whichever replica it likes, as a load balancer without sticky sessions would.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SignJWT } from "jose";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { startGatehouseProcess, type Child } from "./processes.ts";
import type { ClientCapabilitiesInit } from "./gateway.ts";

export const AUDIENCE = "gatehouse-scale-test";
export const ISSUER = "https://issuer.scale.test";
const SECRET = "scale-out-test-secret-0123456789-abcdefghij";

/** The identity section every replica shares: the same issuer, so a token verifies on any of them. */
export const IDENTITY_YAML = `identity:
  audience: ${AUDIENCE}
  issuers:
    - { name: test, kind: static, issuer: "${ISSUER}", secret: "${SECRET}" }`;

export function mintToken(agent: string): Promise<string> {
  return new SignJWT({ scope: "" })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(agent)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(SECRET));
}

export interface Replica {
  name: string;
  url: string;
  child: Child;
  configFile: string;
}

/** Writes `yaml` to its own folder and starts a replica on it; `${REPLICA_DIR}` in the YAML is that folder. */
export async function startReplica(name: string, yaml: string, extraArgs: string[] = [], configFile?: string): Promise<Replica> {
  const dir = mkdtempSync(path.join(tmpdir(), `gatehouse-replica-${name}-`));
  const file = configFile ?? path.join(dir, "gatehouse.yaml");
  if (configFile === undefined) writeFileSync(file, yaml);
  const { url, child } = await startGatehouseProcess(["--config", file, ...extraArgs], {
    REPLICA: name,
    REPLICA_DIR: dir,
    GATEHOUSE_LOG_LEVEL: process.env.GATEHOUSE_TEST_LOG_LEVEL ?? "warn",
  });
  return { name, url, child, configFile: file };
}

/** What a client sends, as the router sees it. */
export interface Outgoing {
  method: string;
  /** The JSON-RPC message kind of a POST: request, notification or response. */
  kind: "request" | "notification" | "response" | "none";
  rpcMethod: string | undefined;
}

export type Route = (outgoing: Outgoing) => string;

function describe(init: RequestInit | undefined): Outgoing {
  const method = (init?.method ?? "GET").toUpperCase();
  if (method !== "POST" || typeof init?.body !== "string") return { method, kind: "none", rpcMethod: undefined };
  const message = JSON.parse(init.body) as Record<string, unknown>;
  const rpcMethod = typeof message.method === "string" ? message.method : undefined;
  const kind = rpcMethod === undefined ? "response" : "id" in message ? "request" : "notification";
  return { method, kind, rpcMethod };
}

/** An SDK client whose every HTTP request goes to the replica URL `route` picks at that moment. */
export async function steeredClient(route: Route, agent: string, name: string, capabilities: ClientCapabilitiesInit = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const token = await mintToken(agent);
  const steer = (_url: string | URL, init?: RequestInit) => fetch(route(describe(init)), init);
  const transport = new StreamableHTTPClientTransport(new URL("http://steered.invalid/mcp"), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    fetch: steer,
    reconnectionOptions: { initialReconnectionDelay: 100, maxReconnectionDelay: 500, reconnectionDelayGrowFactor: 1.5, maxRetries: 20 },
  });
  const client = new Client({ name, version: "1.0.0" }, capabilities);
  await client.connect(transport);
  return { client, transport };
}
