import { randomBytes } from "node:crypto";
import { createServer, type AddressInfo } from "node:net";
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { displaySource, loadBundle, parseBundle, readBundleFile } from "./bundle.ts";
import { normalizeName, readTar, readTarGz } from "./tar.ts";
import { buildTestBundle, GRANTS_DATA, packDir, repackBundle, startBundleServer, tempDir } from "./testing.ts";
import { PolicyBundleError } from "./types.ts";

let dir: string;
let cleanup: () => Promise<void>;
let built: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("bundle"));
  built = await buildTestBundle({ dir, revision: "rev-7" });
});
afterAll(() => cleanup());

/** A minimal ustar header + body, for the malformed cases that no real tar writes. */
function tarEntry(name: string, body: Uint8Array, type = "0"): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, "utf8");
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(body.byteLength.toString(8).padStart(11, "0") + "\0", 124);
  header.write("00000000000\0", 136);
  header.write(type, 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  const padded = Buffer.alloc(Math.ceil(body.byteLength / 512) * 512);
  padded.set(body);
  return Buffer.concat([header, padded]);
}

const end = Buffer.alloc(1024);

describe("tar reader", () => {
  it("reads what opa build writes (absolute names, normalized)", async () => {
    const files = await readTarGz(await readFile(built));
    expect([...files.keys()].sort()).toEqual([".manifest", "data.json", "policy.rego", "policy.wasm"]);
    expect(JSON.parse(Buffer.from(files.get("data.json") as Uint8Array).toString())).toEqual(GRANTS_DATA);
  });

  it.each(["gnu", "pax", "ustar"] as const)("reads GNU tar's %s format, long and deep names included", async (format) => {
    const src = path.join(dir, `long-${format}`);
    const deep = path.join(src, "a".repeat(60), "b".repeat(60));
    await mkdir(deep, { recursive: true });
    const longName = `${"n".repeat(90)}.json`;
    await writeFile(path.join(deep, longName), "{}");
    await writeFile(path.join(src, "short.txt"), "hi");
    const files = await readTarGz(await readFile(await packDir(src, path.join(dir, `long-${format}.tar.gz`), format)));
    expect(files.get(`${"a".repeat(60)}/${"b".repeat(60)}/${longName}`)).toBeDefined();
    expect(Buffer.from(files.get("short.txt") as Uint8Array).toString()).toBe("hi");
  });

  it("refuses symlinks, bad checksums, truncation, duplicates and escaping names", async () => {
    const src = path.join(dir, "links");
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, "target"), "x");
    await symlink("target", path.join(src, "link"));
    await expect(readTarGz(await readFile(await packDir(src, path.join(dir, "links.tar.gz"))))).rejects.toThrow(/link: unsupported tar entry type "2"/);

    const good = tarEntry("a.txt", Buffer.from("hello"));
    const bad = Buffer.from(good);
    bad[0] = 0x62; // "b.txt" without fixing the checksum
    expect(() => readTar(Buffer.concat([bad, end]))).toThrow(/bad tar header checksum at offset 0/);
    expect(() => readTar(good.subarray(0, 515))).toThrow(/truncated tar entry at offset 0/);
    expect(() => readTar(Buffer.concat([good, good.subarray(0, 100)]))).toThrow(/truncated tar archive at offset 1024/);
    expect(() => readTar(Buffer.concat([good, tarEntry("./a.txt", Buffer.from("x")), end]))).toThrow(/a.txt: duplicate file/);
    expect(() => readTar(Buffer.concat([tarEntry("../etc/passwd", Buffer.from("x")), end]))).toThrow(/escapes the bundle/);
    expect(readTar(Buffer.concat([good, end])).get("a.txt")).toEqual(Buffer.from("hello"));
  });

  it("reads PAX path records", () => {
    const name = `${"p".repeat(150)}/data.json`;
    const record = (key: string, value: string): string => {
      const body = ` ${key}=${value}\n`;
      let length = body.length + 1;
      if (String(length).length + body.length !== length) length = String(length + 1).length + body.length;
      return `${length}${body}`;
    };
    const pax = tarEntry("PaxHeaders/x", Buffer.from(record("path", name)), "x");
    const files = readTar(Buffer.concat([pax, tarEntry("short-name", Buffer.from("{}")), end]));
    expect([...files.keys()]).toEqual([name]);
  });

  it("normalizes names", () => {
    expect(normalizeName("/policy.wasm")).toBe("policy.wasm");
    expect(normalizeName("./a//b/./c.rego")).toBe("a/b/c.rego");
    expect(() => normalizeName("a/../../b")).toThrow(/escapes/);
  });

  it("bounds the uncompressed size", async () => {
    const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024));
    await expect(readTarGz(bomb, { maxBytes: 1024 * 1024 })).rejects.toThrow(/exceeds 1048576 bytes uncompressed/);
  });
});

describe("bundle loading", () => {
  it("reads a real opa build bundle: wasm, data, manifest revision, digest", async () => {
    const bundle = await readBundleFile(built);
    expect(bundle.revision).toBe("rev-7");
    expect(bundle.manifest.wasm).toEqual([{ entrypoint: "gatehouse/authz/decision", module: "/policy.wasm" }]);
    expect(bundle.data).toEqual(GRANTS_DATA);
    expect(JSON.parse(Buffer.from(bundle.dataJson).toString())).toEqual(GRANTS_DATA);
    expect(Buffer.from(bundle.wasm.subarray(0, 4))).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]));
    expect(bundle.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(bundle.signature).toBeUndefined();
  });

  it("names the bundle and the problem", async () => {
    const cases: [string, (d: string) => Promise<void>, RegExp][] = [
      ["no-wasm", (d) => rm(path.join(d, "policy.wasm")), /^bundle .*no-wasm\.tar\.gz: policy\.wasm missing/],
      ["bad-wasm", (d) => writeFile(path.join(d, "policy.wasm"), "not wasm at all"), /policy\.wasm is not a WebAssembly module/],
      ["bad-data", (d) => writeFile(path.join(d, "data.json"), "{ nope"), /: data\.json is not valid JSON/],
      ["array-data", (d) => writeFile(path.join(d, "data.json"), "[1]"), /: data\.json is not a JSON object/],
      ["bad-manifest", (d) => writeFile(path.join(d, ".manifest"), "{"), /: \.manifest is not valid JSON/],
      ["bad-revision", (d) => writeFile(path.join(d, ".manifest"), '{"revision": 7}'), /\.manifest revision is not a string/],
      ["delta", (d) => writeFile(path.join(d, ".manifest"), '{"revision": "x", "type": "delta"}'), /snapshot bundles only/],
      ["yaml", (d) => writeFile(path.join(d, "data.yaml"), "a: 1"), /data\.yaml: YAML data files are not supported/],
    ];
    for (const [name, mutate, message] of cases) {
      const file = await repackBundle(built, path.join(dir, `${name}.tar.gz`), mutate);
      const error = await readBundleFile(file).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(PolicyBundleError);
      expect((error as Error).message, name).toMatch(message);
    }
  });

  it("merges data.json files in directories at their path", async () => {
    const file = await repackBundle(built, path.join(dir, "nested.tar.gz"), async (d) => {
      await mkdir(path.join(d, "extra", "deep"), { recursive: true });
      await writeFile(path.join(d, "extra", "deep", "data.json"), '{"limit": 1.0}');
    });
    const bundle = await readBundleFile(file);
    expect(bundle.data).toEqual({ ...GRANTS_DATA, extra: { deep: { limit: 1 } } });
    expect(JSON.parse(Buffer.from(bundle.dataJson).toString())).toEqual(bundle.data);
  });

  it("refuses corrupt archives: random bytes, a truncated gzip, gzip of garbage, a missing file", async () => {
    const archive = await readFile(built);
    await expect(parseBundle(randomBytes(2048), "random")).rejects.toThrow(/^bundle random: not a gzip file$/);
    await expect(parseBundle(archive.subarray(0, archive.byteLength - 200), "cut")).rejects.toThrow(/^bundle cut: corrupt gzip data/);
    await expect(parseBundle(gzipSync(randomBytes(4096)), "garbage")).rejects.toThrow(/^bundle garbage: bad .*(checksum|size).* at offset 0/);
    await expect(readBundleFile(path.join(dir, "nope.tar.gz"))).rejects.toThrow(/nope\.tar\.gz: file not found$/);
  });

  it("never shows URL credentials or query strings in messages", async () => {
    expect(displaySource("https://user:secret@bundles.example/b.tar.gz?X-Amz-Signature=abc")).toBe("https://bundles.example/b.tar.gz?…");
    expect(displaySource("/etc/gatehouse/bundle.tar.gz")).toBe("/etc/gatehouse/bundle.tar.gz");
    const server = await startBundleServer();
    try {
      const error = await loadBundle(`${server.url.replace("http://", "http://u:pw@")}?token=hunter2`).catch((e: Error) => e);
      expect((error as Error).message).toMatch(/^bundle http:\/\/127\.0\.0\.1:\d+\/bundles\/gatehouse\.tar\.gz\?…: HTTP 404$/);
      // user info becomes Basic auth (fetch refuses credentials in URLs)
      expect(server.requests.at(-1)?.authorization).toBe(`Basic ${Buffer.from("u:pw").toString("base64")}`);
    } finally {
      await server.close();
    }
  });

  it("loads from a URL and reports HTTP errors", async () => {
    const server = await startBundleServer();
    try {
      await expect(loadBundle(server.url)).rejects.toThrow(/: HTTP 404$/);
      await server.serveFile(built);
      expect((await loadBundle(server.url)).revision).toBe("rev-7");
    } finally {
      await server.close();
    }
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    await expect(loadBundle(`http://127.0.0.1:${port}/b.tar.gz`)).rejects.toThrow(/: fetch failed: ECONNREFUSED/);
  });
});
