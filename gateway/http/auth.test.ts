import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { createAuth } from "./auth.ts";

function appWith(recorded: boolean) {
  const reasons: string[] = [];
  const authenticate = createAuth(undefined, async (_c, _status, reason) => {
    reasons.push(reason);
    return recorded;
  });
  const app = new Hono();
  app.post("/mcp", async (c) => {
    const auth = await authenticate(c);
    return "response" in auth ? auth.response : c.text("ok");
  });
  return { app, reasons };
}

describe("refused tokens and the audit trail", () => {
  it.each([
    { recorded: true, status: 401 },
    { recorded: false, status: 503 },
  ])("a refusal that was recorded=$recorded answers $status", async ({ recorded, status }) => {
    const { app, reasons } = appWith(recorded);
    const res = await app.request("http://127.0.0.1/mcp?access_token=abc", { method: "POST" });
    expect(res.status).toBe(status);
    expect(reasons).toEqual(["invalid_request: tokens are accepted only in the Authorization header"]);
    expect(reasons.join()).not.toContain("abc");
  });
});
