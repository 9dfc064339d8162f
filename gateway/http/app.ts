/** The Hono app: /mcp plus probes. Admin and metrics routes join here as their issues land. */
import { Hono } from "hono";
import { createMcpEndpoint, type McpEndpointDeps } from "./mcp-endpoint.ts";

export interface Readiness {
  ready: boolean;
  servers: Record<string, string>;
  reason?: string;
}

export interface HttpAppDeps extends McpEndpointDeps {
  readiness: () => Readiness;
}

export function createHttpApp(deps: HttpAppDeps): Hono {
  const app = new Hono();
  const mcp = createMcpEndpoint(deps);
  app.post("/mcp", (c) => mcp.post(c));
  app.get("/mcp", (c) => mcp.get(c));
  app.delete("/mcp", (c) => mcp.delete(c));
  app.on(["PUT", "PATCH"], "/mcp", (c) => c.json({ error: "Method Not Allowed" }, 405, { allow: "GET, POST, DELETE" }));

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const readiness = deps.readiness();
    return c.json({ status: readiness.ready ? "ready" : "not ready", ...readiness }, readiness.ready ? 200 : 503);
  });
  app.notFound((c) => c.json({ error: "Not Found" }, 404));
  return app;
}
