// The clock server over real stdio: now, the zone resources (URL-encoded names) and the plan-meeting prompt.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStdioServer, firstText, serverMain, type StdioServerConnection } from "../shared/test-client.ts";

describe("clock server (stdio)", () => {
  let clock: StdioServerConnection;
  const call = (name: string, args: Record<string, unknown> = {}) =>
    clock.client.callTool({ name, arguments: args }) as Promise<{
      content: Array<{ type: string; text?: string }>;
      structuredContent?: Record<string, unknown>;
      isError?: boolean;
    }>;
  const readJson = async (uri: string) => {
    const { contents } = await clock.client.readResource({ uri });
    expect(contents).toHaveLength(1);
    expect(contents[0]).toMatchObject({ uri, mimeType: "application/json" });
    return JSON.parse(String((contents[0] as { text: string }).text)) as unknown;
  };

  beforeAll(async () => {
    clock = await connectStdioServer(serverMain("clock"));
  });
  afterAll(async () => {
    await clock?.close();
  });

  it("identifies itself and declares its tools as read-only", async () => {
    expect(clock.client.getServerVersion()).toEqual({ name: "gatehouse-clock", version: "0.1.0" });
    const { tools } = await clock.client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(["countdown", "now", "sleep"]);
    for (const tool of tools) expect(tool.annotations?.readOnlyHint, tool.name).toBe(true);
    expect(tools.find((tool) => tool.name === "countdown")?.annotations?.idempotentHint).toBe(true);
  });

  it("now gives UTC and the wall clock of the zone asked for", async () => {
    const before = Date.now();
    const result = await call("now", { timeZone: "Asia/Kathmandu" });
    const now = result.structuredContent as { utc: string; epochMs: number; timeZone: string; iso: string; utcOffset: string };
    expect(result.isError).toBeFalsy();
    expect(now.timeZone).toBe("Asia/Kathmandu");
    expect(now.utcOffset).toBe("+05:45");
    expect(now.epochMs).toBeGreaterThanOrEqual(before);
    expect(now.epochMs).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(now.utc)).toBe(now.epochMs);
    // The zoned ISO string names the same instant, to the second.
    expect(Math.floor(now.epochMs / 1000) * 1000).toBe(Date.parse(now.iso));
    expect(firstText(result)).toContain("(Asia/Kathmandu, ");
  });

  it("now accepts aliases such as UTC and defaults to the server's own zone", async () => {
    const utc = await call("now", { timeZone: "utc" });
    expect(utc.structuredContent).toMatchObject({ timeZone: "UTC", utcOffset: "+00:00" });
    const local = await call("now");
    expect(local.isError).toBeFalsy();
    expect(typeof local.structuredContent?.timeZone).toBe("string");
  });

  it("now answers isError for a zone that does not exist", async () => {
    for (const timeZone of ["Mars/Olympus_Mons", "+01:00", "../etc/localtime"]) {
      const result = await call("now", { timeZone });
      expect(result.isError, timeZone).toBe(true);
      expect(firstText(result)).toBe(`unknown time zone: ${timeZone}`);
    }
  });

  it("lists clock://zones as a resource and clock://zone/{name} as a template", async () => {
    const { resources } = await clock.client.listResources();
    expect(resources).toEqual([expect.objectContaining({ uri: "clock://zones", mimeType: "application/json" })]);
    const { resourceTemplates } = await clock.client.listResourceTemplates();
    expect(resourceTemplates).toEqual([expect.objectContaining({ uriTemplate: "clock://zone/{name}" })]);
  });

  it("serves every supported zone name in clock://zones", async () => {
    const zones = (await readJson("clock://zones")) as string[];
    expect(zones).toEqual(Intl.supportedValuesOf("timeZone"));
    expect(zones).toContain("Europe/Paris");
  });

  it("reads the time in a zone whose URL-encoded name holds a slash", async () => {
    const paris = (await readJson("clock://zone/Europe%2FParis")) as { timeZone: string; utcOffset: string; utc: string };
    expect(paris.timeZone).toBe("Europe/Paris");
    expect(["+01:00", "+02:00"]).toContain(paris.utcOffset);
    expect(Math.abs(Date.parse(paris.utc) - Date.now())).toBeLessThan(5000);
    expect(await readJson("clock://zone/America%2FArgentina%2FBuenos_Aires")).toMatchObject({ utcOffset: "-03:00" });
    expect(await readJson("clock://zone/UTC")).toMatchObject({ timeZone: "UTC", utcOffset: "+00:00" });
  });

  it("refuses unknown, malformed and unencoded zone names", async () => {
    for (const uri of ["clock://zone/Mars%2FOlympus", "clock://zone/%2Fetc%2Fpasswd", "clock://zone/%E0%A4", "clock://zone/%2B01%3A00"]) {
      await expect(clock.client.readResource({ uri }), uri).rejects.toThrow(/unknown time zone/);
    }
    // A raw slash does not match the template's variable at all.
    await expect(clock.client.readResource({ uri: "clock://zone/Europe/Paris" })).rejects.toThrow(/not found/);
  });

  it("completes zone names by prefix, case-insensitively", async () => {
    const { completion } = await clock.client.complete({
      ref: { type: "ref/resource", uri: "clock://zone/{name}" },
      argument: { name: "name", value: "europe/pa" },
    });
    expect(completion.values).toEqual(["Europe/Paris"]);
  });

  it("plan-meeting embeds the current time in each zone", async () => {
    const { prompts } = await clock.client.listPrompts();
    expect(prompts).toEqual([
      expect.objectContaining({ name: "plan-meeting", arguments: [expect.objectContaining({ name: "zones", required: true })] }),
    ]);
    const prompt = await clock.client.getPrompt({ name: "plan-meeting", arguments: { zones: "Europe/Paris, Asia/Tokyo,UTC" } });
    expect(prompt.messages).toHaveLength(1);
    expect(prompt.messages[0]?.role).toBe("user");
    const text = (prompt.messages[0]?.content as { type: string; text: string }).text;
    expect(text).toContain("Europe/Paris, Asia/Tokyo, UTC");
    expect(text).toMatch(/^- Asia\/Tokyo: \w+day \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\+09:00\)$/m);
    expect(text).toMatch(/^- Europe\/Paris: .*\(UTC\+0[12]:00\)$/m);
    expect(text).toMatch(/^- UTC: .*\(UTC\+00:00\)$/m);
  });

  it("plan-meeting refuses unknown zones and an empty list", async () => {
    await expect(
      clock.client.getPrompt({ name: "plan-meeting", arguments: { zones: "Europe/Paris, Mars/Olympus" } }),
    ).rejects.toThrow(/unknown time zones: Mars\/Olympus/);
    await expect(clock.client.getPrompt({ name: "plan-meeting", arguments: { zones: " , " } })).rejects.toThrow(
      /no time zones/,
    );
  });
});
