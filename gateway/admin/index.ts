/** The admin surface's public face: routes for operators and auditors, mounted beside /mcp. See README.md. */
export { createAuditApi, filterFromQuery, type AuditApiDeps } from "./audit-api.ts";
