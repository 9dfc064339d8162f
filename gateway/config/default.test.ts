import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_CONFIG_PATH, loadConfigFile, loadDefaultConfig } from "./load.ts";

describe("the embedded default config", () => {
  it("loads and validates, named <embedded default>, resolved against gateway/config", async () => {
    const result = await loadDefaultConfig({});
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const { config } = result;
    expect(config.configFile).toBe("<embedded default>");
    expect(config.configDir).toBe(path.dirname(DEFAULT_CONFIG_PATH));
    expect(config.listen).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(config.naming).toEqual({ separator: "__", prefix: "when-needed" });
    expect(config.dataDir).toBe(path.resolve(config.configDir, "../../.gatehouse"));
    expect(config.servers.map((server) => server.name)).toEqual(["everything", "memory", "notes", "clock", "probe"]);
    expect(config.servers.filter((server) => server.transport === "container").map((server) => server.name)).toEqual(["notes", "clock", "probe"]);
  });

  it.each([
    ["everything", "@modelcontextprotocol/server-everything/dist/index.js"],
    ["memory", "@modelcontextprotocol/server-memory/dist/index.js"],
  ])("runs %s over stdio from an entry file that exists", async (name, entry) => {
    const result = await loadDefaultConfig({});
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const server = result.config.servers.find((candidate) => candidate.name === name);
    if (server?.transport !== "stdio") throw new Error(`${name} is not a stdio server`);
    expect(server.command).toBe("node");
    expect(server.cwd).toBe(result.config.configDir);
    const script = path.resolve(server.cwd, server.args[0] ?? "");
    expect(script.endsWith(path.join("node_modules", entry))).toBe(true);
    expect(existsSync(script)).toBe(true);
  });

  it("is also a valid file on its own", async () => {
    const result = await loadConfigFile(DEFAULT_CONFIG_PATH, {});
    expect(result.ok).toBe(true);
  });
});

describe("the embedded default's container servers", () => {
  it.each([
    ["notes", "servers/notes/main.ts"],
    ["clock", "servers/clock/main.ts"],
  ])("%s falls back to a plain process whose entry file exists", async (name, entry) => {
    const result = await loadDefaultConfig({});
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const server = result.config.servers.find((candidate) => candidate.name === name);
    if (server?.transport !== "container" || server.fallback === undefined) throw new Error(`${name} has no fallback`);
    const script = path.resolve(server.fallback.cwd, server.fallback.args[0] ?? "");
    expect(script.endsWith(entry)).toBe(true);
    expect(existsSync(script)).toBe(true);
  });

  it("keeps the notes volume under the allowed root, and the probe without a fallback", async () => {
    const result = await loadDefaultConfig({});
    if (!result.ok) throw new Error(result.errors.join("\n"));
    const { config } = result;
    expect(config.container.allowedRoots).toEqual([path.join(config.dataDir, "volumes")]);
    const notes = config.servers.find((server) => server.name === "notes");
    expect(notes?.transport === "container" && notes.volumes[0]?.host).toBe(path.join(config.dataDir, "volumes", "notes"));
    const probe = config.servers.find((server) => server.name === "probe");
    expect(probe?.transport === "container" && probe.fallback).toBe(undefined);
    expect(probe?.required).toBe(false);
  });
});
