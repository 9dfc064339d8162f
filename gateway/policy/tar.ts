/**
 * A small reader for the `.tar.gz` archives OPA writes (Go's archive/tar: ustar headers, PAX records for long
 * names; GNU long names are read too). Regular files only; directories are skipped; links, devices and anything
 * else are refused. Errors are plain Errors with a precise message; bundle.ts prefixes the bundle's name.
 */
import { posix } from "node:path";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";

const gunzipAsync = promisify(gunzip);
const BLOCK = 512;
const utf8 = new TextDecoder("utf-8");

export interface TarLimits {
  /** Bound on the uncompressed archive, in bytes. Default 64 MiB. */
  maxBytes?: number;
  /** Bound on the number of entries. Default 10000. */
  maxEntries?: number;
}

/** Gunzips off the main thread (libuv's pool), bounded by maxBytes, then reads the tar. Paths are normalized. */
export async function readTarGz(archive: Uint8Array, limits: TarLimits = {}): Promise<Map<string, Uint8Array>> {
  const maxBytes = limits.maxBytes ?? 64 * 1024 * 1024;
  if (archive.byteLength < 18 || archive[0] !== 0x1f || archive[1] !== 0x8b) throw new Error("not a gzip file");
  let tar: Buffer;
  try {
    tar = await gunzipAsync(archive, { maxOutputLength: maxBytes });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || error instanceof RangeError) throw new Error(`archive exceeds ${maxBytes} bytes uncompressed`);
    throw new Error(`corrupt gzip data: ${(error as Error).message}`);
  }
  return readTar(tar, limits.maxEntries ?? 10_000);
}

/** Reads an uncompressed tar. Exported for tests. */
export function readTar(tar: Uint8Array, maxEntries = 10_000): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let offset = 0;
  let entries = 0;
  let longName: string | undefined;
  let pax: Map<string, string> | undefined;
  while (true) {
    if (offset + BLOCK > tar.byteLength) {
      if (offset === tar.byteLength) return files; // no end-of-archive blocks: tolerated
      throw new Error(`truncated tar archive at offset ${offset}`);
    }
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return files;
    if (++entries > maxEntries) throw new Error(`archive has more than ${maxEntries} entries`);
    verifyChecksum(header, offset);
    const type = String.fromCharCode(header[156] ?? 0);
    let size = parseNumber(header.subarray(124, 136), "size", offset);
    const paxSize = pax?.get("size");
    if (paxSize !== undefined && type !== "x" && type !== "g") size = Number(paxSize);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`bad size in tar header at offset ${offset}`);
    const start = offset + BLOCK;
    const end = start + size;
    if (end > tar.byteLength) throw new Error(`truncated tar entry at offset ${offset}`);
    const body = tar.subarray(start, end);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;

    if (type === "x") {
      pax = parsePax(body, start);
      continue;
    }
    if (type === "g") continue; // global PAX headers carry nothing a bundle needs
    if (type === "L") {
      longName = cString(body);
      continue;
    }
    if (type === "K") continue; // GNU long link name; links are refused below anyway

    const rawName = pax?.get("path") ?? longName ?? headerName(header);
    pax = undefined;
    longName = undefined;
    if (type === "5" || ((type === "0" || type === "\0") && rawName.endsWith("/"))) continue;
    if (type !== "0" && type !== "\0" && type !== "7") {
      throw new Error(`${rawName}: unsupported tar entry type ${JSON.stringify(type)} (only regular files)`);
    }
    const name = normalizeName(rawName);
    if (files.has(name)) throw new Error(`${name}: duplicate file in archive`);
    files.set(name, body);
  }
}

function headerName(header: Uint8Array): string {
  const name = cString(header.subarray(0, 100));
  // Only POSIX ustar ("ustar\0") has a prefix field; GNU tar ("ustar  ") keeps times there.
  const isUstar = header[257] === 0x75 && cString(header.subarray(257, 263)) === "ustar" && header[262] === 0;
  const prefix = isUstar ? cString(header.subarray(345, 500)) : "";
  return prefix === "" ? name : `${prefix}/${name}`;
}

/** Strips a leading "/" or "./", collapses "//" and "."; refuses ".." and empty names. */
export function normalizeName(raw: string): string {
  const trimmed = raw.replace(/^(\.?\/)+/, "");
  const normalized = posix.normalize(trimmed === "" ? "." : trimmed);
  if (normalized === "." || normalized === "") throw new Error(`empty file name in archive`);
  if (normalized === ".." || normalized.startsWith("../") || normalized.includes("\0")) {
    throw new Error(`${raw}: file name escapes the bundle`);
  }
  return normalized;
}

function cString(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return utf8.decode(nul === -1 ? bytes : bytes.subarray(0, nul));
}

function parseNumber(field: Uint8Array, what: string, offset: number): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    // base-256 (GNU/star extension for large values); positive values only
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = cString(field).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`bad ${what} field in tar header at offset ${offset}`);
  return Number.parseInt(text, 8);
}

function verifyChecksum(header: Uint8Array, offset: number): void {
  const expected = parseNumber(header.subarray(148, 156), "checksum", offset);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  if (expected !== unsigned && expected !== signed) throw new Error(`bad tar header checksum at offset ${offset} (not a tar archive?)`);
}

/** PAX records: "<len> <key>=<value>\n", len counting the whole record in bytes. */
function parsePax(body: Uint8Array, offset: number): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    if (body[at] === 0) break;
    const space = body.indexOf(0x20, at);
    const length = space === -1 ? Number.NaN : Number.parseInt(utf8.decode(body.subarray(at, space)), 10);
    if (!Number.isSafeInteger(length) || length <= 0 || at + length > body.length || body[at + length - 1] !== 0x0a) {
      throw new Error(`bad PAX record in tar entry at offset ${offset}`);
    }
    const record = utf8.decode(body.subarray(space + 1, at + length - 1));
    const equals = record.indexOf("=");
    if (equals <= 0) throw new Error(`bad PAX record in tar entry at offset ${offset}`);
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}
