import { createHash } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBundleFile } from "./bundle.ts";
import { canonicalJson, opaFileHash } from "./signatures.ts";
import { buildTestBundle, extractBundle, opaSign, packDir, repackBundle, tempDir, writeKeyPair, type KeyFiles } from "./testing.ts";

let dir: string;
let cleanup: () => Promise<void>;
let rsa: KeyFiles;
let other: KeyFiles;
let signed: string;
let unsigned: string;

/** Hand-written, unsorted, pretty-printed data exercising every rule of OPA's canonical JSON hash. */
const TRICKY_DATA = `{
  "z": [1.0, 1E+3, -0, 12345678901234567890, 0.1e-2],
  "s": "<>&\\u2028\\u2029\\u0000\\u001f\\u007f\\b\\f\\n\\r\\t\\"\\\\\\/é😀\\uffff\\ud800",
  "\\uffff": 3, "😀": 2, "ключ": 1, "Z": true, "n": null, "o": {"b": {}, "a": []}, "": ""
}
`;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("signatures"));
  rsa = await writeKeyPair(dir, "rsa");
  other = await writeKeyPair(dir, "other");
  signed = await buildTestBundle({ dir, name: "signed.tar.gz", revision: "s1", signingKey: rsa.privatePem });
  unsigned = await buildTestBundle({ dir, name: "unsigned.tar.gz", revision: "u1" });
});
afterAll(() => cleanup());

const verify = (keyFile: string, more: Record<string, string> = {}) => ({ verify: { keyFile, ...more } });

describe("OPA's file hashes", () => {
  it("match `opa sign` for hand-written JSON (key order by UTF-8 bytes, number literals, Go string escapes)", async () => {
    const bundleDir = await extractBundle(unsigned, dir);
    await writeFile(path.join(bundleDir, "data.json"), TRICKY_DATA);
    await writeFile(path.join(bundleDir, ".manifest"), '{ "wasm": [{"module": "/policy.wasm", "entrypoint": "gatehouse/authz/decision"}],\n "revision": "tricky" }');
    await opaSign(bundleDir, rsa.privatePem);
    const token = JSON.parse(await readFile(path.join(bundleDir, ".signatures.json"), "utf8")).signatures[0] as string;
    const payload = JSON.parse(Buffer.from(token.split(".")[1] as string, "base64url").toString()) as { files: { name: string; hash: string; algorithm: string }[] };
    for (const file of payload.files) {
      expect(opaFileHash(file.name, await readFile(path.join(bundleDir, file.name)), file.algorithm), file.name).toBe(file.hash);
    }
    expect(payload.files.map((file) => file.name).sort()).toEqual([".manifest", "data.json", "policy.rego", "policy.wasm"]);
    // The canonical form itself, as Go writes it: U+FFFF sorts before U+1F600 in UTF-8 (not in UTF-16).
    const canonical = canonicalJson(Buffer.from(TRICKY_DATA)).toString();
    expect(canonical).toBe(
      '{"":"","Z":true,"n":null,"o":{"a":[],"b":{}},"s":"<>&\\u2028\\u2029\\u0000\\u001f\u007f\\b\\f\\n\\r\\t\\"\\\\/é😀\uffff\ufffd",' +
        '"z":[1.0,1E+3,-0,12345678901234567890,0.1e-2],"ключ":1,"\uffff":3,"😀":2}',
    );
    // ...and a bundle signed by `opa sign` and packed by GNU tar verifies end to end.
    const archive = await packDir(bundleDir, path.join(dir, "opa-sign.tar.gz"));
    const bundle = await readBundleFile(archive, verify(rsa.publicPem));
    expect(bundle.revision).toBe("tricky");
    expect(bundle.signature?.files.sort()).toEqual([".manifest", "data.json", "policy.rego", "policy.wasm"]);
  });

  it("hashes other files as bytes and refuses weak or unknown algorithms", () => {
    const bytes = Buffer.from('{"b":1, "a":2}');
    expect(opaFileHash("policy.rego", bytes, "SHA-256")).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(opaFileHash("x/data.json", bytes, "SHA-512")).toBe(createHash("sha512").update('{"a":2,"b":1}').digest("hex"));
    expect(() => opaFileHash("a", bytes, "MD5")).toThrow(/hash algorithm "MD5" is not accepted/);
    expect(() => opaFileHash("data.json", Buffer.from("{"), "SHA-256")).toThrow(/data.json: invalid JSON/);
  });
});

describe("bundle signature verification", () => {
  it("accepts a bundle signed by `opa build --signing-key` (RS256, PEM public key)", async () => {
    const bundle = await readBundleFile(signed, verify(rsa.publicPem));
    expect(bundle.revision).toBe("s1");
    expect(bundle.signature).toEqual({ keyId: "default", algorithm: "RS256", files: expect.arrayContaining(["policy.wasm", "data.json", ".manifest", "policy.rego"]) });
  });

  it("accepts ES256 with a JWK key file, a key id and a scope", async () => {
    const ec = await writeKeyPair(dir, "prod", "ec");
    const claims = path.join(dir, "claims.json");
    // with a claims file opa puts no kid in the header: the (deprecated) payload keyid names the key
    await writeFile(claims, JSON.stringify({ scope: "gatehouse", keyid: "prod" }));
    const archive = await buildTestBundle({
      dir,
      name: "ec.tar.gz",
      revision: "e1",
      signingKey: ec.privatePem,
      signingAlg: "ES256",
      keyId: "prod",
      extraArgs: ["--claims-file", claims],
    });
    const bundle = await readBundleFile(archive, verify(ec.publicJwk, { keyId: "prod", scope: "gatehouse" }));
    expect(bundle.signature).toMatchObject({ keyId: "prod", algorithm: "ES256" });
    await expect(readBundleFile(archive, verify(ec.publicJwk, { keyId: "prod" }))).rejects.toThrow(/signature scope "gatehouse" does not match verify.scope ""/);
    await expect(readBundleFile(archive, verify(ec.publicJwk, { keyId: "staging", scope: "gatehouse" }))).rejects.toThrow(
      /signed with key id "prod", but verify.keyId is "staging"/,
    );
    // a JWKS with several keys: the token's kid picks one
    const jwks = path.join(dir, "jwks.json");
    const rsaJwk = JSON.parse(await readFile(rsa.publicJwk, "utf8"));
    await writeFile(jwks, JSON.stringify({ keys: [rsaJwk, JSON.parse(await readFile(ec.publicJwk, "utf8"))] }));
    expect((await readBundleFile(archive, verify(jwks, { scope: "gatehouse" }))).signature?.keyId).toBe("prod");
  });

  it("rejects a wrong key, a wrong algorithm, an unsigned bundle and a private key file", async () => {
    await expect(readBundleFile(signed, verify(other.publicPem))).rejects.toThrow(/^bundle .*signed\.tar\.gz: bad signature: signature verification failed/);
    await expect(readBundleFile(signed, verify(rsa.publicPem, { algorithm: "RS512" }))).rejects.toThrow(/bad signature: .*"alg" \(Algorithm\) Header Parameter value not allowed/);
    await expect(readBundleFile(unsigned, verify(rsa.publicPem))).rejects.toThrow(/unsigned bundle \(no \.signatures\.json\) but policy\.verify is set/);
    await expect(readBundleFile(signed, verify(rsa.privatePem))).rejects.toThrow(/verify\.keyFile .*: holds a private key; give the public key/);
    await expect(readBundleFile(signed, verify(path.join(dir, "absent.pem")))).rejects.toThrow(/verify\.keyFile .*absent\.pem: ENOENT/);
  });

  it("rejects tampered content: a changed file, a changed revision, an added file, a removed file", async () => {
    const cases: [string, (d: string) => Promise<void>, RegExp][] = [
      ["data", (d) => writeFile(path.join(d, "data.json"), JSON.stringify({ grants: { evil: [{ server: "*", tool: "*" }] } })), /data\.json: digest mismatch/],
      ["wasm", async (d) => writeFile(path.join(d, "policy.wasm"), Buffer.concat([await readFile(path.join(d, "policy.wasm")), Buffer.from([0])])), /policy\.wasm: digest mismatch/],
      ["manifest", async (d) => writeFile(path.join(d, ".manifest"), (await readFile(path.join(d, ".manifest"), "utf8")).replace('"s1"', '"s2"')), /\.manifest: digest mismatch/],
      ["added", (d) => writeFile(path.join(d, "extra.rego"), "package x\n"), /extra\.rego is not covered by the signature/],
      ["removed", (d) => rm(path.join(d, "policy.rego")), /signed file\(s\) missing from the bundle: policy\.rego/],
      ["garbled", (d) => writeFile(path.join(d, ".signatures.json"), '{"signatures": []}'), /expected \{"signatures": \["<one compact JWS>"\]\}/],
      [
        "reformatted", // whitespace and key order do not matter for JSON files: still valid
        async (d) => writeFile(path.join(d, "data.json"), JSON.stringify(JSON.parse(await readFile(path.join(d, "data.json"), "utf8")), null, 4)),
        /^$/,
      ],
    ];
    for (const [name, mutate, message] of cases) {
      const archive = await repackBundle(signed, path.join(dir, `tampered-${name}.tar.gz`), mutate);
      const result = await readBundleFile(archive, verify(rsa.publicPem)).then(
        () => "",
        (error: Error) => error.message,
      );
      expect(result, name).toMatch(message);
    }
  });
});
