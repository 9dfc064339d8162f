import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const LOG_MODULE = fileURLToPath(new URL("./log.ts", import.meta.url));

describe("log destination", () => {
  it("loggers taken before configureLogging({ fd: 2 }) move to stderr with the rest (stdout stays protocol-only)", () => {
    const script = `
      const { logger, configureLogging } = await import(${JSON.stringify(LOG_MODULE)});
      const early = logger("early");
      configureLogging({ fd: 2 });
      early.info("early line");
      logger("late").info("late line");
      await new Promise((r) => setTimeout(r, 100));
    `;
    const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: "info", VITEST: "" },
      timeout: 10_000,
    });
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/"component":"early".*"msg":"early line"/);
    expect(result.stderr).toMatch(/"component":"late".*"msg":"late line"/);
  });
});
