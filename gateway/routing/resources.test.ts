import { describe, expect, it } from "vitest";
import { schemeAndAuthority } from "./resources.ts";
import { build, catalog, table } from "./test-helpers.ts";

// Two file servers that share one URI and one template, a memory server with its own scheme, a down server.
const built = table({
  servers: [
    {
      name: "disk",
      catalog: catalog({
        resources: ["file:///etc/hosts", "file:///shared/readme.md"],
        templates: ["file:///logs/{name}", "file:///archive/{+path}"],
      }),
    },
    {
      name: "backup",
      alias: "bk",
      catalog: catalog({
        resources: ["file:///shared/readme.md", "backup://snapshots/latest"],
        templates: ["file:///archive/{+path}", "backup://snapshots/{id}"],
      }),
    },
    { name: "memory", catalog: catalog({ resources: ["memory://graph/main"], templates: ["notes://{user}/items/{id}"] }) },
    { name: "down" },
  ],
});

describe("listed resources and templates", () => {
  it("exposes unique URIs unchanged and shared ones qualified per server, in config order", () => {
    expect(built.resources.map((r) => r.uri)).toEqual([
      "file:///etc/hosts",
      "gatehouse://disk/file:///shared/readme.md",
      "gatehouse://bk/file:///shared/readme.md",
      "backup://snapshots/latest",
      "memory://graph/main",
    ]);
  });

  it("qualifies identical templates only", () => {
    expect(built.resourceTemplates.map((t) => t.uriTemplate)).toEqual([
      "file:///logs/{name}",
      "gatehouse://disk/file:///archive/{+path}",
      "gatehouse://bk/file:///archive/{+path}",
      "backup://snapshots/{id}",
      "notes://{user}/items/{id}",
    ]);
  });

  it("keeps the rest of each definition", () => {
    expect(built.resources[1]).toEqual({ uri: "gatehouse://disk/file:///shared/readme.md", name: "file:///shared/readme.md" });
  });
});

describe("resource(uri)", () => {
  const cases: Array<[string, string, { server: string; originalUri: string } | undefined]> = [
    ["exact, unique", "file:///etc/hosts", { server: "disk", originalUri: "file:///etc/hosts" }],
    ["exact, other server", "backup://snapshots/latest", { server: "backup", originalUri: "backup://snapshots/latest" }],
    ["qualified by name", "gatehouse://disk/file:///shared/readme.md", { server: "disk", originalUri: "file:///shared/readme.md" }],
    ["qualified by alias", "gatehouse://bk/file:///shared/readme.md", { server: "backup", originalUri: "file:///shared/readme.md" }],
    ["qualified by name of an aliased server", "gatehouse://backup/x://y", { server: "backup", originalUri: "x://y" }],
    ["qualified, URI not listed", "gatehouse://memory/memory://graph/other", { server: "memory", originalUri: "memory://graph/other" }],
    ["qualified, server without catalog", "gatehouse://down/anything:x", { server: "down", originalUri: "anything:x" }],
    ["qualified, template expansion", "gatehouse://bk/file:///archive/b.txt", { server: "backup", originalUri: "file:///archive/b.txt" }],
    ["qualified, unknown server", "gatehouse://nobody/file:///etc/hosts", undefined],
    ["qualified, empty original", "gatehouse://disk/", undefined],
    ["qualified, no slash", "gatehouse://disk", undefined],
    ["template, one server", "file:///logs/app.log", { server: "disk", originalUri: "file:///logs/app.log" }],
    ["template with two variables", "notes://ann/items/7", { server: "memory", originalUri: "notes://ann/items/7" }],
    ["template on the aliased server", "backup://snapshots/2024-01-01", { server: "backup", originalUri: "backup://snapshots/2024-01-01" }],
    ["shared URI raw is ambiguous", "file:///shared/readme.md", undefined],
    ["two servers' templates match", "file:///archive/some/where.txt", undefined],
    ["fallback by scheme and authority", "memory://graph/unlisted", { server: "memory", originalUri: "memory://graph/unlisted" }],
    ["fallback is case-insensitive in the scheme", "MEMORY://graph/x", { server: "memory", originalUri: "MEMORY://graph/x" }],
    ["fallback needs the same authority", "memory://other/x", undefined],
    ["fallback with two owners", "file:///nowhere", undefined],
    ["no scheme", "just-a-name", undefined],
    ["unknown scheme", "https://example.com/x", undefined],
  ];
  it.each(cases)("%s: %s", (_label, uri, expected) => {
    expect(built.resource(uri)).toEqual(expected);
  });
});

describe("exposedUri(server, originalUri) is the inverse of resource()", () => {
  const cases: Array<[string, string, string, string]> = [
    ["unique listed URI", "disk", "file:///etc/hosts", "file:///etc/hosts"],
    ["shared URI, first server", "disk", "file:///shared/readme.md", "gatehouse://disk/file:///shared/readme.md"],
    ["shared URI, aliased server", "backup", "file:///shared/readme.md", "gatehouse://bk/file:///shared/readme.md"],
    ["unlisted, a unique template matches", "disk", "file:///logs/x.log", "file:///logs/x.log"],
    ["unlisted, identical templates match", "backup", "file:///archive/a/b", "gatehouse://bk/file:///archive/a/b"],
    ["unlisted, routed by fallback", "memory", "memory://graph/z", "memory://graph/z"],
    ["a URI that routes elsewhere", "memory", "file:///etc/hosts", "gatehouse://memory/file:///etc/hosts"],
    ["a server without a catalog", "down", "x://y", "gatehouse://down/x://y"],
    ["an unknown server", "nobody", "x://y", "x://y"],
  ];
  it.each(cases)("%s", (_label, server, originalUri, exposed) => {
    expect(built.exposedUri(server, originalUri)).toBe(exposed);
    if (server !== "nobody") expect(built.resource(exposed)).toEqual({ server, originalUri });
  });

  it("round-trips every listed resource", () => {
    for (const resource of built.resources) {
      const route = built.resource(resource.uri);
      expect(route).toBeDefined();
      expect(built.exposedUri(route!.server, route!.originalUri)).toBe(resource.uri);
    }
  });
});

describe("edge cases", () => {
  it("a server listing a URI twice is not ambiguous with itself", () => {
    const result = build({ servers: [{ name: "a", catalog: catalog({ resources: ["x://1", "x://1"] }) }] });
    expect(result.ok && [result.table.resources.map((r) => r.uri), result.warnings]).toEqual([
      ["x://1"],
      ['server "a": resource "x://1" is listed twice; the first is kept'],
    ]);
  });

  it("a malformed template is still listed, with a warning, but does not route", () => {
    const result = build({ servers: [{ name: "a", catalog: catalog({ templates: ["x://{unclosed"] }) }] });
    if (!result.ok) throw new Error(result.errors.join());
    expect(result.table.resourceTemplates.map((t) => t.uriTemplate)).toEqual(["x://{unclosed"]);
    expect(result.warnings).toEqual([expect.stringMatching(/^server "a": resource template "x:\/\/\{unclosed" is listed but not used for routing: /)]);
  });

  it("two templates of the same server matching is still one server", () => {
    const own = table({
      servers: [
        { name: "a", catalog: catalog({ templates: ["x://{id}", "x://{+any}"] }) },
        { name: "b", catalog: catalog({ templates: ["y://{id}"] }) },
      ],
    });
    expect(own.resource("x://1")).toEqual({ server: "a", originalUri: "x://1" });
  });

  it("a URI longer than 16 KiB skips template matching but still uses the other rules", () => {
    const long = table({ servers: [{ name: "a", catalog: catalog({ templates: ["x://h/{+rest}"] }) }, { name: "b" }] });
    const uri = `x://h/${"z".repeat(20_000)}`;
    expect(long.resource(uri)).toEqual({ server: "a", originalUri: uri });
  });

  it("lookups of 2,000 resources are exact", () => {
    const servers = Array.from({ length: 4 }, (_, s) => ({
      name: `s${s}`,
      catalog: catalog({ resources: Array.from({ length: 500 }, (_, r) => `res${s}://item/${r}`) }),
    }));
    const big = table({ servers });
    expect(big.resources).toHaveLength(2000);
    for (let s = 0; s < 4; s++) {
      for (let r = 0; r < 500; r++) expect(big.resource(`res${s}://item/${r}`)).toEqual({ server: `s${s}`, originalUri: `res${s}://item/${r}` });
    }
  });
});

describe("schemeAndAuthority", () => {
  it.each([
    ["file:///etc/hosts", "file://"],
    ["memory://graph/main", "memory://graph"],
    ["HTTPS://Example.com:8443/x?y#z", "https://Example.com:8443"],
    ["urn:isbn:123", "urn:"],
    ["users://{id}/profile", undefined],
    ["{scheme}://x", undefined],
    ["no-scheme", undefined],
    ["", undefined],
  ])("%s → %s", (uri, expected) => {
    expect(schemeAndAuthority(uri)).toBe(expected);
  });
});
