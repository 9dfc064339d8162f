/** The Hono app: /mcp, probes, and the well-known documents. The admin routes come from ../admin. */
import { Hono, type Context } from "hono";
import { createMcpEndpoint, type McpEndpointDeps } from "./mcp-endpoint.ts";
import { PROTECTED_RESOURCE_PATH } from "./auth.ts";

export interface Readiness {
  ready: boolean;
  servers: Record<string, string>;
  reason?: string;
}

export interface HttpAppDeps extends McpEndpointDeps {
  readiness: () => Readiness;
  /** RFC 9728 protected-resource metadata; undefined when no identity is configured. */
  protectedResource: () => Record<string, unknown> | undefined;
  /** The gateway's public keys, for backends that verify its identity assertions. */
  jwks: () => Promise<Record<string, unknown>>;
  /** GET /admin/audit (see ../admin). */
  auditApi: (c: Context) => Promise<Response>;
}

export function createHttpApp(deps: HttpAppDeps): Hono {
  const app = new Hono();
  const mcp = createMcpEndpoint(deps);
  app.post("/mcp", (c) => mcp.post(c));
  app.get("/mcp", (c) => mcp.get(c));
  app.delete("/mcp", (c) => mcp.delete(c));
  app.on(["PUT", "PATCH"], "/mcp", (c) => c.json({ error: "Method Not Allowed" }, 405, { allow: "GET, POST, DELETE" }));

  // RFC 9728: the bare path and the one suffixed with the resource's path (/mcp) describe the same resource.
  for (const path of [PROTECTED_RESOURCE_PATH, `${PROTECTED_RESOURCE_PATH}/mcp`]) {
    app.get(path, (c) => {
      const metadata = deps.protectedResource();
      return metadata === undefined ? c.json({ error: "Not Found" }, 404) : c.json(metadata);
    });
  }
  app.get("/.well-known/jwks.json", async (c) => c.json(await deps.jwks(), 200, { "cache-control": "public, max-age=300" }));

  app.get("/admin/audit", (c) => deps.auditApi(c));

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const readiness = deps.readiness();
    return c.json({ status: readiness.ready ? "ready" : "not ready", ...readiness }, readiness.ready ? 200 : 503);
  });
  app.notFound((c) => c.json({ error: "Not Found" }, 404));
  return app;
}
