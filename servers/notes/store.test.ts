// The stores on their own: they must refuse hostile ids even when called without the tool schemas in front.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFileStore } from "./file-store.ts";
import { noteIdFromUri } from "./note-id.ts";
import { createMemoryStore, InvalidNoteIdError, type NoteStore } from "./store.ts";

describe.each([
  ["memory", async () => ({ store: createMemoryStore(), cleanup: async () => {} })],
  [
    "file",
    async () => {
      const dir = await mkdtemp(join(tmpdir(), "notes-store-"));
      return { store: await createFileStore(join(dir, "notes")), cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  ],
] as const)("%s store", (_kind, open) => {
  let store: NoteStore;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ store, cleanup } = await open());
  });
  afterAll(async () => {
    await cleanup();
  });

  it("round-trips notes and reports created vs updated", async () => {
    expect((await store.write("b", "two")).created).toBe(true);
    expect((await store.write("a", "ünï")).note.bytes).toBe(5); // bytes, not characters
    expect((await store.write("b", "2")).created).toBe(false);
    expect((await store.list()).map((note) => note.id)).toEqual(["a", "b"]);
    expect((await store.read("b"))?.text).toBe("2");
    expect(await store.delete("b")).toBe(true);
    expect(await store.delete("b")).toBe(false);
    expect(await store.read("b")).toBeUndefined();
  });

  it.each(["../x", "..", "a/b", "a\\b", ".x", ""])("refuses id %j in read, write and delete", async (id) => {
    await expect(store.read(id)).rejects.toBeInstanceOf(InvalidNoteIdError);
    await expect(store.write(id, "x")).rejects.toBeInstanceOf(InvalidNoteIdError);
    await expect(store.delete(id)).rejects.toBeInstanceOf(InvalidNoteIdError);
  });
});

describe("file store directory hygiene", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "notes-hygiene-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes nothing but <id>.md files", async () => {
    const store = await createFileStore(dir);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.write(`n${i % 5}`, `text ${i}`)));
    expect((await readdir(dir)).sort()).toEqual(["n0.md", "n1.md", "n2.md", "n3.md", "n4.md"]);
  });
});

describe("noteIdFromUri", () => {
  it("accepts only notes://note/<valid id>", () => {
    expect(noteIdFromUri("notes://note/abc-1")).toBe("abc-1");
    expect(noteIdFromUri("notes://note/../x")).toBeUndefined();
    expect(noteIdFromUri("notes://note/")).toBeUndefined();
    expect(noteIdFromUri("notes://other/abc")).toBeUndefined();
    expect(noteIdFromUri("file:///abc")).toBeUndefined();
  });
});
