// The notes server on its file store (NOTES_DIR): persistence, and refusal of every path-traversal shape
// through every entry point (tools, resources, prompts, subscriptions), checked against the real filesystem.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStdioServer, firstText, serverMain, type StdioServerConnection } from "../shared/test-client.ts";

const notesMain = serverMain("notes");

const SECRET = "TOP-SECRET-CONTENT";

// Shapes that try to leave the notes directory, or to name something that is not a plain note file.
const hostileIds = [
  "../secret",
  "..",
  ".",
  "../../etc/passwd",
  "/etc/passwd",
  "sub/../../secret",
  "..\\secret",
  "%2e%2e%2fsecret",
  ".hidden",
  "secret.md",
  "note\u0000",
  "a b",
  "",
  "x".repeat(65),
];

describe("notes server (file store, stdio)", () => {
  let sandbox: string;
  let notesDir: string;
  let notes: StdioServerConnection;
  const call = (name: string, args: Record<string, unknown>) =>
    notes.client.callTool({ name, arguments: args }) as Promise<{ content: unknown; isError?: boolean }>;

  beforeAll(async () => {
    sandbox = await mkdtemp(join(tmpdir(), "notes-test-"));
    notesDir = join(sandbox, "notes");
    // A file beside (not inside) the notes directory, and one named like a note, for traversal attempts to find.
    await writeFile(join(sandbox, "secret"), SECRET);
    await writeFile(join(sandbox, "secret.md"), SECRET);
    notes = await connectStdioServer(notesMain, { env: { NOTES_DIR: notesDir } });
  });
  afterAll(async () => {
    await notes?.close();
    if (sandbox) await rm(sandbox, { recursive: true, force: true });
  });

  it("creates NOTES_DIR and stores each note as <id>.md", async () => {
    expect(notes.stderr()).toContain(`store: dir:${notesDir}`);
    await call("write_note", { id: "plan-2025_q3", text: "# Plan\n- ship" });
    expect(await readFile(join(notesDir, "plan-2025_q3.md"), "utf8")).toBe("# Plan\n- ship");
    // Atomic writes leave no temp files behind.
    expect(await readdir(notesDir)).toEqual(["plan-2025_q3.md"]);
  });

  it("keeps notes across restarts", async () => {
    const second = await connectStdioServer(notesMain, { env: { NOTES_DIR: notesDir } });
    try {
      const result = await second.client.callTool({ name: "read_note", arguments: { id: "plan-2025_q3" } });
      expect(firstText(result)).toBe("# Plan\n- ship");
    } finally {
      await second.close();
    }
  });

  it("lists only files that are notes", async () => {
    await writeFile(join(notesDir, "README.txt"), "not a note");
    await writeFile(join(notesDir, ".draft.abc.tmp"), "temp");
    await writeFile(join(notesDir, "has space.md"), "not a valid id");
    await mkdir(join(notesDir, "folder.md"));
    const listed = (await call("list_notes", {})) as { structuredContent?: { notes: Array<{ id: string }> } };
    expect(listed.structuredContent?.notes.map((note) => note.id)).toEqual(["plan-2025_q3"]);
    const { resources } = await notes.client.listResources();
    expect(resources.map((resource) => resource.uri)).toEqual(["notes://note/plan-2025_q3"]);
  });

  it.each(hostileIds)("refuses id %j in every tool and prompt", async (id) => {
    for (const [tool, args] of [
      ["read_note", { id }],
      ["write_note", { id, text: "pwned" }],
      ["delete_note", { id }],
    ] as const) {
      const result = await call(tool, args);
      expect(result.isError, `${tool} ${JSON.stringify(id)}`).toBe(true);
      expect(firstText(result)).toMatch(/Input validation error/);
      expect(firstText(result)).not.toContain(SECRET);
    }
    await expect(notes.client.getPrompt({ name: "summarize-note", arguments: { id } })).rejects.toThrow(
      /Invalid arguments/,
    );
  });

  it("leaves the filesystem untouched by the refused calls", async () => {
    expect(await readFile(join(sandbox, "secret"), "utf8")).toBe(SECRET);
    expect(await readFile(join(sandbox, "secret.md"), "utf8")).toBe(SECRET);
    expect(existsSync(join(sandbox, "secret.md.md"))).toBe(false);
    expect(existsSync("/etc/passwd.md")).toBe(false);
    expect((await readdir(sandbox)).sort()).toEqual(["notes", "secret", "secret.md"]);
    expect((await readdir(notesDir)).sort()).toEqual([".draft.abc.tmp", "README.txt", "folder.md", "has space.md", "plan-2025_q3.md"]);
  });

  it("refuses traversal through resource URIs", async () => {
    for (const uri of ["notes://note/..%2Fsecret", "notes://note/secret.md", "notes://note/.hidden", "notes://note/a%00"]) {
      await expect(notes.client.readResource({ uri }), uri).rejects.toThrow(/invalid note id/);
    }
    // URL parsing folds "/../" away before the template sees it; what is left is a plain id inside NOTES_DIR.
    await expect(notes.client.readResource({ uri: "notes://note/../secret" })).rejects.toThrow(
      /note secret does not exist/,
    );
    await expect(notes.client.readResource({ uri: "notes://note/a/../../secret" })).rejects.toThrow(/does not exist/);
    // "%2e%2e" is a ".." segment to the URL parser too: it folds to notes://note/, which matches no template.
    await expect(notes.client.readResource({ uri: "notes://note/%2e%2e" })).rejects.toThrow(/not found/);
    await expect(notes.client.subscribeResource({ uri: "notes://note/../secret" })).rejects.toThrow(/not a note URI/);
  });
});
