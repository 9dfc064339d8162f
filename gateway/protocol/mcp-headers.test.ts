import { describe, expect, it } from "vitest";
import {
  MCP_HEADER,
  checkParamHeaders,
  decodeHeaderValue,
  encodeHeaderValue,
  headerParamsOf,
  headerValuesOf,
  nameHeaderSource,
  type HeaderParam,
} from "./mcp-headers.ts";

/** A tool schema with one annotated property, for the many cases that only vary that property. */
function oneProperty(property: Record<string, unknown>): Record<string, unknown> {
  return { type: "object", properties: { region: property } };
}

describe("encodeHeaderValue", () => {
  it.each([
    // The spec's example table, verbatim.
    { name: "plain ASCII", value: "us-west1", encoded: "us-west1" },
    { name: "non-ASCII", value: "Hello, 世界", encoded: "=?base64?SGVsbG8sIOS4lueVjA==?=" },
    { name: "leading/trailing spaces", value: " padded ", encoded: "=?base64?IHBhZGRlZCA=?=" },
    { name: "newline", value: "line1\nline2", encoded: "=?base64?bGluZTEKbGluZTI=?=" },
    { name: "matches the sentinel", value: "=?base64?literal?=", encoded: "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=" },
    // Beyond the table.
    { name: "empty string stays plain", value: "", encoded: "" },
    { name: "interior space", value: "a b", encoded: "a b" },
    { name: "interior tab", value: "a\tb", encoded: "a\tb" },
    { name: "URI", value: "file:///projects/myapp/config.json", encoded: "file:///projects/myapp/config.json" },
    { name: "single space", value: " ", encoded: "=?base64?IA==?=" },
    { name: "trailing tab", value: "tab\t", encoded: "=?base64?dGFiCQ==?=" },
    { name: "leading tab", value: "\tx", encoded: "=?base64?CXg=?=" },
    { name: "carriage return", value: "x\r", encoded: "=?base64?eA0=?=" },
    { name: "DEL", value: "\x7f", encoded: "=?base64?fw==?=" },
    { name: "NUL", value: "\u0000", encoded: "=?base64?AA==?=" },
    { name: "latin1 character", value: "café", encoded: "=?base64?Y2Fmw6k=?=" },
    { name: "overlapping sentinel lookalike", value: "=?base64?=", encoded: "=?base64?PT9iYXNlNjQ/PQ==?=" },
    { name: "sentinel prefix only", value: "=?base64?abc", encoded: "=?base64?abc" },
    { name: "sentinel suffix only", value: "abc?=", encoded: "abc?=" },
    { name: "uppercase marker is not the sentinel", value: "=?BASE64?abc?=", encoded: "=?BASE64?abc?=" },
  ])("$name", ({ value, encoded }) => {
    expect(encodeHeaderValue(value)).toBe(encoded);
  });
});

describe("decodeHeaderValue", () => {
  it.each([
    { name: "plain value", raw: "us-west1", value: "us-west1" },
    { name: "spec: non-ASCII", raw: "=?base64?SGVsbG8sIOS4lueVjA==?=", value: "Hello, 世界" },
    { name: "spec: padded", raw: "=?base64?IHBhZGRlZCA=?=", value: " padded " },
    { name: "spec: newline", raw: "=?base64?bGluZTEKbGluZTI=?=", value: "line1\nline2" },
    { name: "spec: literal sentinel", raw: "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", value: "=?base64?literal?=" },
    { name: "empty plain", raw: "", value: "" },
    { name: "empty sentinel payload", raw: "=?base64??=", value: "" },
    { name: "too short to be a sentinel", raw: "=?base64?=", value: "=?base64?=" },
    { name: "uppercase marker is literal", raw: "=?BASE64?SGk=?=", value: "=?BASE64?SGk=?=" },
    { name: "interior tab", raw: "a\tb", value: "a\tb" },
    { name: "byte-order mark is kept", raw: "=?base64?77u/YWJj?=", value: "\uFEFFabc" },
    { name: "one padding character", raw: "=?base64?SGVsbG8=?=", value: "Hello" },
  ])("$name", ({ raw, value }) => {
    expect(decodeHeaderValue(raw)).toEqual({ ok: true, value });
  });

  it.each([
    { name: "line feed", raw: "a\nb", reason: "invalid character U+000A at offset 1" },
    { name: "carriage return", raw: "ab\r", reason: "invalid character U+000D at offset 2" },
    { name: "NUL", raw: "\u0000", reason: "invalid character U+0000 at offset 0" },
    { name: "DEL", raw: "x\x7f", reason: "invalid character U+007F at offset 1" },
    { name: "latin1 byte as fetch presents it", raw: "caf\u00e9", reason: "invalid character U+00E9 at offset 3" },
    { name: "raw non-ASCII", raw: "世界", reason: "invalid character U+4E16 at offset 0" },
    { name: "invalid char inside a sentinel", raw: "=?base64?SGk=\n?=", reason: "invalid character U+000A at offset 13" },
  ])("rejects $name", ({ raw, reason }) => {
    expect(decodeHeaderValue(raw)).toEqual({ ok: false, reason });
  });

  const notBase64 = "Base64 sentinel payload is not standard Base64 (A-Z a-z 0-9 + /, = padding)";
  it.each([
    { name: "missing padding", raw: "=?base64?SGVsbG8?=", reason: notBase64 },
    { name: "excess padding", raw: "=?base64?SGk==?=", reason: notBase64 },
    { name: "padding only", raw: "=?base64?=?=", reason: notBase64 },
    { name: "URL-safe alphabet", raw: "=?base64?PT9iYXNlNjQ_bGl0ZXJhbD89?=", reason: notBase64 },
    { name: "space inside payload", raw: "=?base64?SGVs bG8=?=", reason: notBase64 },
    { name: "padding in the middle", raw: "=?base64?SG==SGk=?=", reason: notBase64 },
    { name: "plain text posing as sentinel", raw: "=?base64?literal?=", reason: notBase64 },
    { name: "non-zero padding bits", raw: "=?base64?QR==?=", reason: "Base64 sentinel payload has non-zero padding bits" },
    { name: "invalid UTF-8 byte", raw: "=?base64?/w==?=", reason: "Base64 sentinel payload is not valid UTF-8" },
    { name: "UTF-8-encoded surrogate", raw: "=?base64?7aCA?=", reason: "Base64 sentinel payload is not valid UTF-8" },
  ])("rejects a malformed sentinel: $name", ({ raw, reason }) => {
    expect(decodeHeaderValue(raw)).toEqual({ ok: false, reason });
  });

  it.each([
    "",
    "x",
    " ",
    "  leading",
    "trailing  ",
    "a\tb",
    "\t",
    "日本語",
    "emoji 🎉",
    "\u0000",
    "\r\n",
    "\uFEFFbom",
    "=?base64?x?=",
    "=?base64?=",
    "=?base64??=",
    "mixed café\nline",
    "a".repeat(1000),
  ])("round-trips %j through a header-safe form", (value) => {
    const encoded = encodeHeaderValue(value);
    expect(encoded).toMatch(/^(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?$/);
    expect(decodeHeaderValue(encoded)).toEqual({ ok: true, value });
  });

  it("turns a lone surrogate into U+FFFD, so such a value can never match its body", () => {
    expect(decodeHeaderValue(encodeHeaderValue("a\ud800"))).toEqual({ ok: true, value: "a\uFFFD" });
  });
});

describe("headerParamsOf", () => {
  it.each<{ name: string; schema: unknown; params: HeaderParam[] }>([
    { name: "no annotations", schema: { type: "object", properties: { a: { type: "string" } } }, params: [] },
    { name: "no schema object", schema: true, params: [] },
    {
      name: "one string",
      schema: oneProperty({ type: "string", "x-mcp-header": "Region" }),
      params: [{ header: "Region", path: ["region"], type: "string" }],
    },
    {
      name: "integer and boolean, in declaration order",
      schema: {
        type: "object",
        properties: {
          count: { type: "integer", "x-mcp-header": "Count" },
          other: { type: "number" },
          dry: { type: "boolean", "x-mcp-header": "Dry-Run" },
        },
      },
      params: [
        { header: "Count", path: ["count"], type: "integer" },
        { header: "Dry-Run", path: ["dry"], type: "boolean" },
      ],
    },
    {
      name: "nested properties chain",
      schema: {
        type: "object",
        properties: {
          location: { type: "object", properties: { city: { type: "string", "x-mcp-header": "City" } } },
        },
      },
      params: [{ header: "City", path: ["location", "city"], type: "string" }],
    },
    {
      name: "every tchar",
      schema: oneProperty({ type: "string", "x-mcp-header": "A-z_0.9!#$%&'*+^`|~" }),
      params: [{ header: "A-z_0.9!#$%&'*+^`|~", path: ["region"], type: "string" }],
    },
    {
      name: "a property named x-mcp-header is just a property",
      schema: { type: "object", properties: { "x-mcp-header": { type: "string" } } },
      params: [],
    },
    {
      name: "instance data in default, const, enum and examples is not an annotation",
      schema: oneProperty({
        type: "object",
        default: { "x-mcp-header": "A" },
        const: { "x-mcp-header": "B" },
        enum: [{ "x-mcp-header": "C" }],
        examples: [{ "x-mcp-header": "D" }],
      }),
      params: [],
    },
    {
      name: "unannotated subschemas alongside an annotation",
      schema: {
        type: "object",
        properties: { region: { type: "string", "x-mcp-header": "Region" }, tags: { type: "array", items: { type: "string" } } },
        $defs: { unused: { type: "string" } },
      },
      params: [{ header: "Region", path: ["region"], type: "string" }],
    },
  ])("accepts $name", ({ schema, params }) => {
    expect(headerParamsOf(schema)).toEqual({ ok: true, params });
  });

  const misplaced = `only properties reached through "properties" keys alone may carry it`;
  const annotated = { type: "string", "x-mcp-header": "Region" };
  it.each<{ name: string; schema: unknown; reason: string }>([
    {
      name: "empty value",
      schema: oneProperty({ type: "string", "x-mcp-header": "" }),
      reason: "x-mcp-header at properties.region must not be empty",
    },
    {
      name: "non-string value",
      schema: oneProperty({ type: "string", "x-mcp-header": 42 }),
      reason: "x-mcp-header at properties.region must be a string, not a number",
    },
    {
      name: "null value",
      schema: oneProperty({ type: "string", "x-mcp-header": null }),
      reason: "x-mcp-header at properties.region must be a string, not null",
    },
    {
      name: "space in the token",
      schema: oneProperty({ type: "string", "x-mcp-header": "Re gion" }),
      reason: `x-mcp-header "Re gion" at properties.region: not an HTTP token (letters, digits and !#$%&'*+-.^_\`|~ only)`,
    },
    {
      name: "colon in the token",
      schema: oneProperty({ type: "string", "x-mcp-header": "Region:" }),
      reason: `x-mcp-header "Region:" at properties.region: not an HTTP token (letters, digits and !#$%&'*+-.^_\`|~ only)`,
    },
    {
      name: "non-ASCII token",
      schema: oneProperty({ type: "string", "x-mcp-header": "Région" }),
      reason: `x-mcp-header "Région" at properties.region: not an HTTP token (letters, digits and !#$%&'*+-.^_\`|~ only)`,
    },
    {
      name: "carriage return",
      schema: oneProperty({ type: "string", "x-mcp-header": "Re\rgion" }),
      reason: `x-mcp-header "Re\\rgion" at properties.region: contains a control character`,
    },
    {
      name: "line feed",
      schema: oneProperty({ type: "string", "x-mcp-header": "Region\n" }),
      reason: `x-mcp-header "Region\\n" at properties.region: contains a control character`,
    },
    {
      name: "case-insensitive duplicate",
      schema: {
        type: "object",
        properties: { a: { type: "string", "x-mcp-header": "Region" }, b: { type: "integer", "x-mcp-header": "REGION" } },
      },
      reason: `x-mcp-header "REGION" at properties.b: duplicates "Region" at properties.a (header names are case-insensitive)`,
    },
    {
      name: "duplicate across nesting levels",
      schema: {
        type: "object",
        properties: {
          a: { type: "string", "x-mcp-header": "City" },
          loc: { type: "object", properties: { city: { type: "string", "x-mcp-header": "city" } } },
        },
      },
      reason: `x-mcp-header "city" at properties.loc.properties.city: duplicates "City" at properties.a (header names are case-insensitive)`,
    },
    {
      name: "number type",
      schema: oneProperty({ type: "number", "x-mcp-header": "Region" }),
      reason: `x-mcp-header "Region" at properties.region: type "number" is not allowed (string, integer or boolean only)`,
    },
    {
      name: "object type",
      schema: oneProperty({ type: "object", "x-mcp-header": "Region" }),
      reason: `x-mcp-header "Region" at properties.region: type "object" is not allowed (string, integer or boolean only)`,
    },
    {
      name: "missing type",
      schema: oneProperty({ "x-mcp-header": "Region" }),
      reason: `x-mcp-header "Region" at properties.region: type is missing (string, integer or boolean required)`,
    },
    {
      name: "type via $ref only",
      schema: { ...oneProperty({ $ref: "#/$defs/r", "x-mcp-header": "Region" }), $defs: { r: { type: "string" } } },
      reason: `x-mcp-header "Region" at properties.region: type is missing (string, integer or boolean required)`,
    },
    {
      name: "type array",
      schema: oneProperty({ type: ["string", "null"], "x-mcp-header": "Region" }),
      reason: `x-mcp-header "Region" at properties.region: type ["string","null"] is not allowed (string, integer or boolean only)`,
    },
    {
      name: "single-element type array",
      schema: oneProperty({ type: ["string"], "x-mcp-header": "Region" }),
      reason: `x-mcp-header "Region" at properties.region: type ["string"] is not allowed (string, integer or boolean only)`,
    },
    {
      name: "annotation on the root",
      schema: { type: "object", "x-mcp-header": "Root" },
      reason: `x-mcp-header "Root" at the schema root: the schema root is not a property`,
    },
    {
      name: "inside items",
      schema: { type: "object", properties: { tags: { type: "array", items: annotated } } },
      reason: `x-mcp-header "Region" at properties.tags.items: ${misplaced}`,
    },
    {
      name: "inside prefixItems",
      schema: { type: "object", properties: { pair: { type: "array", prefixItems: [{ type: "integer" }, annotated] } } },
      reason: `x-mcp-header "Region" at properties.pair.prefixItems[1]: ${misplaced}`,
    },
    {
      name: "properties of an items schema",
      schema: {
        type: "object",
        properties: { rows: { type: "array", items: { type: "object", properties: { region: annotated } } } },
      },
      reason: `x-mcp-header "Region" at properties.rows.items.properties.region: ${misplaced}`,
    },
    {
      name: "inside additionalProperties",
      schema: { type: "object", additionalProperties: annotated },
      reason: `x-mcp-header "Region" at additionalProperties: ${misplaced}`,
    },
    {
      name: "inside patternProperties",
      schema: { type: "object", patternProperties: { "^r": annotated } },
      reason: `x-mcp-header "Region" at patternProperties."^r": ${misplaced}`,
    },
    {
      name: "inside oneOf",
      schema: { type: "object", oneOf: [{ properties: { region: annotated } }] },
      reason: `x-mcp-header "Region" at oneOf[0].properties.region: ${misplaced}`,
    },
    {
      name: "inside anyOf of a property",
      schema: oneProperty({ anyOf: [annotated, { type: "integer" }] }),
      reason: `x-mcp-header "Region" at properties.region.anyOf[0]: ${misplaced}`,
    },
    {
      name: "inside allOf",
      schema: { type: "object", allOf: [{ properties: { region: annotated } }] },
      reason: `x-mcp-header "Region" at allOf[0].properties.region: ${misplaced}`,
    },
    {
      name: "inside not",
      schema: { type: "object", not: { properties: { region: annotated } } },
      reason: `x-mcp-header "Region" at not.properties.region: ${misplaced}`,
    },
    {
      name: "inside then",
      schema: { type: "object", if: { required: ["a"] }, then: { properties: { region: annotated } } },
      reason: `x-mcp-header "Region" at then.properties.region: ${misplaced}`,
    },
    {
      name: "inside else",
      schema: { type: "object", if: { required: ["a"] }, else: { properties: { region: annotated } } },
      reason: `x-mcp-header "Region" at else.properties.region: ${misplaced}`,
    },
    {
      name: "inside $defs (reached by $ref)",
      schema: { type: "object", properties: { region: { $ref: "#/$defs/r" } }, $defs: { r: annotated } },
      reason: `x-mcp-header "Region" at $defs.r: ${misplaced}`,
    },
    {
      name: "inside definitions",
      schema: { type: "object", definitions: { r: annotated } },
      reason: `x-mcp-header "Region" at definitions.r: ${misplaced}`,
    },
    {
      name: "inside dependentSchemas",
      schema: { type: "object", dependentSchemas: { a: { properties: { region: annotated } } } },
      reason: `x-mcp-header "Region" at dependentSchemas.a.properties.region: ${misplaced}`,
    },
    {
      name: "inside an unknown keyword",
      schema: { type: "object", "x-vendor": { nested: annotated } },
      reason: `x-mcp-header "Region" at x-vendor.nested: ${misplaced}`,
    },
    {
      name: "misplaced even when invalid in itself",
      schema: { type: "object", items: { "x-mcp-header": "" } },
      reason: "x-mcp-header at items must not be empty",
    },
  ])("rejects $name", ({ schema, reason }) => {
    expect(headerParamsOf(schema)).toEqual({ ok: false, reason });
  });

  it("stops at 64 levels of nesting", () => {
    let schema: Record<string, unknown> = { type: "string", "x-mcp-header": "Deep" };
    for (let i = 0; i < 70; i++) schema = { type: "object", properties: { p: schema } };
    const result = headerParamsOf(schema);
    expect(result.ok).toBe(false);
    expect(result.ok ? "" : result.reason).toMatch(/^inputSchema nests deeper than 64 levels at properties\.p\./);
  });

  it("accepts a chain well inside the depth limit", () => {
    let schema: Record<string, unknown> = { type: "string", "x-mcp-header": "Deep" };
    for (let i = 0; i < 30; i++) schema = { type: "object", properties: { p: schema } };
    expect(headerParamsOf(schema)).toEqual({
      ok: true,
      params: [{ header: "Deep", path: Array.from({ length: 30 }, () => "p"), type: "string" }],
    });
  });

  it("reports a cycle instead of recursing forever", () => {
    const inner: Record<string, unknown> = { type: "object" };
    inner.properties = { self: inner };
    expect(headerParamsOf({ type: "object", properties: { a: inner } })).toEqual({
      ok: false,
      reason: "inputSchema contains a cycle at properties.a.properties.self",
    });
  });

  it("bounds the work on a schema that shares subtrees", () => {
    let schema: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 40; i++) schema = { type: "object", properties: { a: schema, b: schema } };
    expect(headerParamsOf(schema)).toEqual({ ok: false, reason: "inputSchema has more than 100000 nodes" });
  });
});

describe("headerValuesOf", () => {
  const params: HeaderParam[] = [
    { header: "Region", path: ["region"], type: "string" },
    { header: "Count", path: ["count"], type: "integer" },
    { header: "Dry", path: ["dry"], type: "boolean" },
    { header: "City", path: ["location", "city"], type: "string" },
  ];

  it.each<{ name: string; args: unknown; headers: Record<string, string> }>([
    {
      name: "every kind of value",
      args: { region: "us-west1", count: 42, dry: true, location: { city: "Seattle, WA" } },
      headers: { Region: "us-west1", Count: "42", Dry: "true", City: "Seattle, WA" },
    },
    { name: "negative integer and false", args: { count: -7, dry: false }, headers: { Count: "-7", Dry: "false" } },
    { name: "zero and negative zero", args: { count: -0 }, headers: { Count: "0" } },
    { name: "integer written as 42.0 in JSON", args: JSON.parse('{"count": 42.0}'), headers: { Count: "42" } },
    { name: "largest safe integer", args: { count: 2 ** 53 - 1 }, headers: { Count: "9007199254740991" } },
    { name: "encoded string", args: { region: "Hello, 世界" }, headers: { Region: "=?base64?SGVsbG8sIOS4lueVjA==?=" } },
    { name: "empty string", args: { region: "" }, headers: { Region: "" } },
    { name: "null values are omitted", args: { region: null, count: null, dry: null, location: { city: null } }, headers: {} },
    { name: "absent values are omitted", args: { other: "x" }, headers: {} },
    { name: "no arguments", args: undefined, headers: {} },
    { name: "arguments not an object", args: ["us-west1"], headers: {} },
    { name: "null parent on the path", args: { location: null }, headers: {} },
    { name: "non-object parent on the path", args: { location: "Seattle" }, headers: {} },
    { name: "string for an integer", args: { count: "42" }, headers: {} },
    { name: "fraction for an integer", args: { count: 4.5 }, headers: {} },
    { name: "unsafe integer", args: { count: 2 ** 53 }, headers: {} },
    { name: "huge integer", args: { count: 1e21 }, headers: {} },
    { name: "string for a boolean", args: { dry: "true" }, headers: {} },
    { name: "number for a string", args: { region: 5 }, headers: {} },
    { name: "object for a string", args: { region: { name: "x" } }, headers: {} },
  ])("$name", ({ args, headers }) => {
    expect(Object.fromEntries(headerValuesOf(params, args))).toEqual(headers);
  });

  it("does not find inherited properties", () => {
    const inherited: HeaderParam[] = [{ header: "C", path: ["constructor"], type: "string" }];
    expect(headerValuesOf(inherited, {}).size).toBe(0);
    expect(headerValuesOf(inherited, Object.create({ constructor: "x" })).size).toBe(0);
  });
});

describe("checkParamHeaders", () => {
  const params: HeaderParam[] = [
    { header: "Region", path: ["region"], type: "string" },
    { header: "Count", path: ["count"], type: "integer" },
    { header: "Dry", path: ["dry"], type: "boolean" },
    { header: "City", path: ["location", "city"], type: "string" },
  ];
  const lookup = (headers: Record<string, string>) => (name: string) => headers[name];

  it.each<{ name: string; args: unknown; headers: Record<string, string> }>([
    {
      name: "all headers match",
      args: { region: "us-west1", count: 42, dry: true, location: { city: "Seattle" } },
      headers: { "mcp-param-region": "us-west1", "mcp-param-count": "42", "mcp-param-dry": "true", "mcp-param-city": "Seattle" },
    },
    { name: "no values, no headers", args: {}, headers: {} },
    { name: "null values, no headers", args: { region: null, count: null }, headers: {} },
    { name: "no arguments at all", args: undefined, headers: {} },
    { name: "integer 42.0 equals 42", args: { count: 42 }, headers: { "mcp-param-count": "42.0" } },
    { name: "integer 4.2e1 equals 42", args: { count: 42 }, headers: { "mcp-param-count": "4.2e1" } },
    { name: "negative integer", args: { count: -7 }, headers: { "mcp-param-count": "-7" } },
    { name: "-0 header equals 0", args: { count: 0 }, headers: { "mcp-param-count": "-0" } },
    { name: "encoded integer", args: { count: 42 }, headers: { "mcp-param-count": "=?base64?NDI=?=" } },
    { name: "false", args: { dry: false }, headers: { "mcp-param-dry": "false" } },
    { name: "encoded string", args: { region: "Hello, 世界" }, headers: { "mcp-param-region": "=?base64?SGVsbG8sIOS4lueVjA==?=" } },
    { name: "encoded literal sentinel", args: { region: "=?base64?literal?=" }, headers: { "mcp-param-region": "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=" } },
    { name: "plain value that merely could have been encoded", args: { region: "us-west1" }, headers: { "mcp-param-region": "=?base64?dXMtd2VzdDE=?=" } },
    { name: "empty string", args: { region: "" }, headers: { "mcp-param-region": "" } },
    { name: "wrong-typed body value without a header", args: { count: "42" }, headers: {} },
    { name: "undeclared Mcp-Param header is ignored", args: {}, headers: { "mcp-param-other": "x" } },
  ])("accepts $name", ({ args, headers }) => {
    expect(checkParamHeaders(params, args, lookup(headers))).toEqual({ ok: true });
  });

  it.each<{ name: string; args: unknown; headers: Record<string, string>; reason: string }>([
    {
      name: "different string",
      args: { region: "us-west1" },
      headers: { "mcp-param-region": "us-east1" },
      reason: "Mcp-Param-Region header value 'us-east1' does not match body value 'us-west1'",
    },
    {
      name: "string differs only in case",
      args: { region: "us-west1" },
      headers: { "mcp-param-region": "US-WEST1" },
      reason: "Mcp-Param-Region header value 'US-WEST1' does not match body value 'us-west1'",
    },
    {
      name: "missing header",
      args: { region: "us-west1" },
      headers: {},
      reason: "Mcp-Param-Region header is missing (body has a value at arguments.region)",
    },
    {
      name: "missing header for an empty string",
      args: { region: "" },
      headers: {},
      reason: "Mcp-Param-Region header is missing (body has a value at arguments.region)",
    },
    {
      name: "missing nested header",
      args: { location: { city: "Seattle" } },
      headers: {},
      reason: "Mcp-Param-City header is missing (body has a value at arguments.location.city)",
    },
    {
      name: "header without a body value",
      args: {},
      headers: { "mcp-param-region": "us-west1" },
      reason: "Mcp-Param-Region header is present but the body has no value at arguments.region",
    },
    {
      name: "header for a null body value",
      args: { dry: null },
      headers: { "mcp-param-dry": "true" },
      reason: "Mcp-Param-Dry header is present but the body has no value at arguments.dry",
    },
    {
      name: "header for a wrong-typed body value",
      args: { count: "42" },
      headers: { "mcp-param-count": "42" },
      reason: "Mcp-Param-Count header is present but the body value at arguments.count is not an integer",
    },
    {
      name: "header for a string body value of a boolean",
      args: { dry: "true" },
      headers: { "mcp-param-dry": "true" },
      reason: "Mcp-Param-Dry header is present but the body value at arguments.dry is not a boolean",
    },
    {
      name: "different integer",
      args: { count: 42 },
      headers: { "mcp-param-count": "43" },
      reason: "Mcp-Param-Count header value '43' does not match body value '42'",
    },
    {
      name: "hex integer",
      args: { count: 42 },
      headers: { "mcp-param-count": "0x2A" },
      reason: "Mcp-Param-Count header value '0x2A' does not match body value '42'",
    },
    {
      name: "integer with trailing junk",
      args: { count: 42 },
      headers: { "mcp-param-count": "42abc" },
      reason: "Mcp-Param-Count header value '42abc' does not match body value '42'",
    },
    {
      name: "empty integer header",
      args: { count: 0 },
      headers: { "mcp-param-count": "" },
      reason: "Mcp-Param-Count header value '' does not match body value '0'",
    },
    {
      name: "integer with a plus sign",
      args: { count: 42 },
      headers: { "mcp-param-count": "+42" },
      reason: "Mcp-Param-Count header value '+42' does not match body value '42'",
    },
    {
      name: "uppercase boolean",
      args: { dry: true },
      headers: { "mcp-param-dry": "TRUE" },
      reason: "Mcp-Param-Dry header value 'TRUE' does not match body value 'true'",
    },
    {
      name: "boolean as 1",
      args: { dry: true },
      headers: { "mcp-param-dry": "1" },
      reason: "Mcp-Param-Dry header value '1' does not match body value 'true'",
    },
    {
      name: "opposite boolean",
      args: { dry: true },
      headers: { "mcp-param-dry": "false" },
      reason: "Mcp-Param-Dry header value 'false' does not match body value 'true'",
    },
    {
      name: "encoded mismatch shows the decoded value, escaped",
      args: { region: "us-west1" },
      headers: { "mcp-param-region": "=?base64?bGluZTEKbGluZTI=?=" },
      reason: "Mcp-Param-Region header value 'line1\\nline2' does not match body value 'us-west1'",
    },
    {
      name: "repeated header arrives comma-joined",
      args: { region: "us-west1" },
      headers: { "mcp-param-region": "us-west1, us-west1" },
      reason: "Mcp-Param-Region header value 'us-west1, us-west1' does not match body value 'us-west1'",
    },
    {
      name: "bad Base64",
      args: { region: "Hello" },
      headers: { "mcp-param-region": "=?base64?SGVsbG8?=" },
      reason:
        "Mcp-Param-Region header value is malformed: Base64 sentinel payload is not standard Base64 (A-Z a-z 0-9 + /, = padding)",
    },
    {
      name: "unencoded sentinel lookalike",
      args: { region: "=?base64?literal?=" },
      headers: { "mcp-param-region": "=?base64?literal?=" },
      reason:
        "Mcp-Param-Region header value is malformed: Base64 sentinel payload is not standard Base64 (A-Z a-z 0-9 + /, = padding)",
    },
    {
      name: "invalid UTF-8 inside the sentinel",
      args: { region: "x" },
      headers: { "mcp-param-region": "=?base64?/w==?=" },
      reason: "Mcp-Param-Region header value is malformed: Base64 sentinel payload is not valid UTF-8",
    },
    {
      name: "raw non-ASCII",
      args: { region: "café" },
      headers: { "mcp-param-region": "caf\u00c3\u00a9" },
      reason: "Mcp-Param-Region header value is malformed: invalid character U+00C3 at offset 3",
    },
    {
      name: "malformed header without a body value",
      args: {},
      headers: { "mcp-param-region": "a\u0000" },
      reason: "Mcp-Param-Region header value is malformed: invalid character U+0000 at offset 1",
    },
  ])("rejects $name", ({ args, headers, reason }) => {
    expect(checkParamHeaders(params, args, lookup(headers))).toEqual({ ok: false, reason });
  });

  it("asks for the lowercased header names, once each", () => {
    const asked: string[] = [];
    const mixed: HeaderParam[] = [{ header: "X-Tenant_ID", path: ["tenant"], type: "string" }];
    checkParamHeaders(mixed, { tenant: "t1" }, (name) => {
      asked.push(name);
      return "t1";
    });
    expect(asked).toEqual(["mcp-param-x-tenant_id"]);
  });

  it("cuts long values short in reasons", () => {
    const result = checkParamHeaders(params, { region: "b".repeat(200) }, lookup({ "mcp-param-region": "a".repeat(200) }));
    expect(result).toEqual({
      ok: false,
      reason: `Mcp-Param-Region header value '${"a".repeat(80)}…' does not match body value '${"b".repeat(80)}…'`,
    });
  });

  it.each([
    { name: "ASCII", value: "us-west1" },
    { name: "non-ASCII", value: "Hello, 世界" },
    { name: "padded", value: " padded " },
    { name: "sentinel lookalike", value: "=?base64?literal?=" },
  ])("accepts what headerValuesOf produces: $name", ({ value }) => {
    const region: HeaderParam[] = [{ header: "Region", path: ["region"], type: "string" }];
    const sent = headerValuesOf(region, { region: value });
    const headers = (name: string) => (name === "mcp-param-region" ? sent.get("Region") : undefined);
    expect(checkParamHeaders(region, { region: value }, headers)).toEqual({ ok: true });
    expect(checkParamHeaders(region, { region: `${value}!` }, headers).ok).toBe(false);
  });
});

describe("nameHeaderSource", () => {
  it.each<{ method: string; params: Record<string, unknown> | undefined; source: string | undefined }>([
    { method: "tools/call", params: { name: "get_weather", arguments: {} }, source: "get_weather" },
    { method: "prompts/get", params: { name: "summarize" }, source: "summarize" },
    { method: "resources/read", params: { uri: "file:///projects/myapp/config.json" }, source: "file:///projects/myapp/config.json" },
    { method: "resources/read", params: { name: "not-the-uri" }, source: undefined },
    { method: "tools/call", params: { uri: "file:///x" }, source: undefined },
    { method: "tools/call", params: { name: 5 }, source: undefined },
    { method: "tools/call", params: undefined, source: undefined },
    { method: "tools/list", params: { name: "x" }, source: undefined },
    { method: "initialize", params: { name: "x" }, source: undefined },
  ])("$method with $params → $source", ({ method, params, source }) => {
    expect(nameHeaderSource(method, params)).toBe(source);
  });
});

describe("MCP_HEADER", () => {
  it("spells the names lowercase, as Node hands them over", () => {
    expect(MCP_HEADER).toEqual({
      protocolVersion: "mcp-protocol-version",
      method: "mcp-method",
      name: "mcp-name",
      paramPrefix: "mcp-param-",
    });
  });
});
