// The notes server over real stdio, in-memory store: tools, resources, subscriptions, prompts and progress.
import {
  ProgressNotificationSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  type ProgressNotification,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStdioServer, firstText, serverMain, waitFor, type StdioServerConnection } from "../shared/test-client.ts";

const notesMain = serverMain("notes");

describe("notes server (memory store, stdio)", () => {
  let notes: StdioServerConnection;
  const call = (name: string, args: Record<string, unknown> = {}) =>
    notes.client.callTool({ name, arguments: args }) as Promise<{
      content: Array<{ type: string; text?: string }>;
      structuredContent?: Record<string, unknown>;
      isError?: boolean;
    }>;

  beforeAll(async () => {
    notes = await connectStdioServer(notesMain);
  });
  afterAll(async () => {
    await notes?.close();
  });

  it("identifies itself and declares tools, subscribable resources and prompts", () => {
    expect(notes.client.getServerVersion()).toEqual({ name: "gatehouse-notes", version: "0.1.0" });
    const capabilities = notes.client.getServerCapabilities();
    expect(capabilities?.tools).toBeDefined();
    expect(capabilities?.resources).toEqual({ subscribe: true, listChanged: true });
    expect(capabilities?.prompts).toBeDefined();
    expect(notes.stderr()).toContain("store: memory");
  });

  it("lists its tools with honest annotations", async () => {
    const { tools } = await notes.client.listTools();
    const byName = new Map(tools.map((tool) => [tool.name, tool]));
    expect([...byName.keys()].sort()).toEqual(
      ["delete_note", "fetch_url", "list_notes", "read_note", "reindex", "write_note"].sort(),
    );
    expect(byName.get("list_notes")?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get("read_note")?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get("write_note")?.annotations).toMatchObject({ idempotentHint: true, readOnlyHint: false });
    expect(byName.get("delete_note")?.annotations).toMatchObject({ destructiveHint: true, readOnlyHint: false });
    expect(byName.get("fetch_url")?.annotations?.openWorldHint).toBe(true);
    expect(byName.get("read_note")?.inputSchema).toMatchObject({
      required: ["id"],
      properties: { id: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$" } },
    });
  });

  it("writes, reads, lists, overwrites and deletes a note", async () => {
    expect(firstText(await call("write_note", { id: "groceries", text: "eggs, milk" }))).toMatch(/^created note groceries/);
    expect(firstText(await call("write_note", { id: "groceries", text: "eggs, milk, bread" }))).toMatch(/^updated/);
    expect(firstText(await call("read_note", { id: "groceries" }))).toBe("eggs, milk, bread");

    const listed = await call("list_notes");
    const summaries = listed.structuredContent?.notes as Array<{ id: string; bytes: number }>;
    expect(summaries.find((note) => note.id === "groceries")?.bytes).toBe(17);
    expect(firstText(listed)).toContain("groceries (17 bytes");

    expect(firstText(await call("delete_note", { id: "groceries" }))).toBe("deleted note groceries");
    const gone = await call("read_note", { id: "groceries" });
    expect(gone.isError).toBe(true);
    expect(firstText(gone)).toBe("note groceries does not exist");
    expect((await call("delete_note", { id: "groceries" })).isError).toBe(true);
  });

  it("validates input: missing fields, wrong types, oversized text", async () => {
    const missing = await call("write_note", { id: "x" });
    expect(missing.isError).toBe(true);
    expect(firstText(missing)).toMatch(/Input validation error.*text/s);
    expect((await call("read_note", { id: 42 })).isError).toBe(true);
    const huge = await call("write_note", { id: "huge", text: "x".repeat(1_000_001) });
    expect(huge.isError).toBe(true);
    expect((await call("read_note", { id: "huge" })).isError).toBe(true);
  });

  it("serves each note as a listed resource, through a template, with id completion", async () => {
    await call("write_note", { id: "alpha", text: "# Alpha\nfirst" });
    await call("write_note", { id: "alps", text: "mountains" });

    const { resources } = await notes.client.listResources();
    expect(resources).toContainEqual(
      expect.objectContaining({ uri: "notes://note/alpha", name: "alpha", mimeType: "text/markdown", size: 13 }),
    );
    const { resourceTemplates } = await notes.client.listResourceTemplates();
    expect(resourceTemplates).toContainEqual(expect.objectContaining({ uriTemplate: "notes://note/{id}" }));

    const read = await notes.client.readResource({ uri: "notes://note/alpha" });
    expect(read.contents).toEqual([{ uri: "notes://note/alpha", mimeType: "text/markdown", text: "# Alpha\nfirst" }]);
    await expect(notes.client.readResource({ uri: "notes://note/nope" })).rejects.toThrow(/does not exist/);

    const completion = await notes.client.complete({
      ref: { type: "ref/resource", uri: "notes://note/{id}" },
      argument: { name: "id", value: "alp" },
    });
    expect(completion.completion.values).toEqual(["alpha", "alps"]);
  });

  it("notifies subscribers of updates and everyone of list changes", async () => {
    const updated: string[] = [];
    let listChanges = 0;
    notes.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    notes.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void (listChanges += 1));

    await notes.client.subscribeResource({ uri: "notes://note/watched" });
    await call("write_note", { id: "watched", text: "v1" });
    await waitFor(() => updated.length === 1 && listChanges === 1);
    await call("write_note", { id: "watched", text: "v2" }); // an update: subscribers hear, the list is unchanged
    await call("write_note", { id: "unwatched", text: "quiet" }); // a creation: the list changed
    await waitFor(() => updated.length === 2 && listChanges === 2);
    expect(updated).toEqual(["notes://note/watched", "notes://note/watched"]);

    await notes.client.unsubscribeResource({ uri: "notes://note/watched" });
    await call("write_note", { id: "watched", text: "v3" });
    await notes.client.ping();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(updated).toHaveLength(2);

    await expect(notes.client.subscribeResource({ uri: "file:///etc/passwd" })).rejects.toThrow(/not a note URI/);
  });

  it("offers summarize-note, embedding the note as a resource", async () => {
    await call("write_note", { id: "meeting", text: "Decided: ship on Friday." });
    const { prompts } = await notes.client.listPrompts();
    expect(prompts).toContainEqual(
      expect.objectContaining({ name: "summarize-note", arguments: [expect.objectContaining({ name: "id", required: true })] }),
    );
    const prompt = await notes.client.getPrompt({ name: "summarize-note", arguments: { id: "meeting" } });
    expect(prompt.messages).toHaveLength(2);
    expect(prompt.messages[0]?.content).toMatchObject({ type: "text", text: expect.stringContaining('"meeting"') });
    expect(prompt.messages[1]?.content).toEqual({
      type: "resource",
      resource: { uri: "notes://note/meeting", mimeType: "text/markdown", text: "Decided: ship on Friday." },
    });
    await expect(notes.client.getPrompt({ name: "summarize-note", arguments: { id: "missing" } })).rejects.toThrow(
      /does not exist/,
    );
  });
});

describe("reindex progress (fresh server)", () => {
  let notes: StdioServerConnection;
  beforeAll(async () => {
    notes = await connectStdioServer(notesMain);
    for (const [id, text] of [["one", "red green"], ["two", "green blue blue"], ["three", "Red"]]) {
      await notes.client.callTool({ name: "write_note", arguments: { id, text } });
    }
  });
  afterAll(async () => {
    await notes?.close();
  });

  // First: the tests below replace the client's progress handler, which is what routes to onprogress.
  it("delivers progress through the SDK's onprogress callback", async () => {
    const steps: number[] = [];
    await notes.client.callTool({ name: "reindex", arguments: { stepDelayMs: 20 } }, undefined, {
      onprogress: (progress) => void steps.push(progress.progress),
    });
    expect(steps).toEqual([1, 2, 3, 4, 5]);
  });

  it("reports one progress notification per step for the caller's token, then the counts", async () => {
    const seen: ProgressNotification["params"][] = [];
    notes.client.setNotificationHandler(ProgressNotificationSchema, (n) => void seen.push(n.params));
    const result = await notes.client.callTool({ name: "reindex", arguments: {}, _meta: { progressToken: "idx-1" } });
    expect(result.structuredContent).toEqual({ notes: 3, words: 6, distinctWords: 3 });
    await waitFor(() => seen.length === 5);
    expect(seen.map((p) => [p.progressToken, p.progress, p.total])).toEqual([
      ["idx-1", 1, 5],
      ["idx-1", 2, 5],
      ["idx-1", 3, 5],
      ["idx-1", 4, 5],
      ["idx-1", 5, 5],
    ]);
    expect(seen[0]?.message).toBe("found 3 notes");
    expect(seen[4]?.message).toBe("index built: 3 distinct words");
  });

  it("sends no progress when the request has no progressToken", async () => {
    let count = 0;
    notes.client.setNotificationHandler(ProgressNotificationSchema, () => void (count += 1));
    const result = await notes.client.callTool({ name: "reindex", arguments: {} });
    expect(result.isError).toBeFalsy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(count).toBe(0);
  });
});
