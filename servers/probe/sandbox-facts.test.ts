// The parsers behind whoami, on the texts the kernel writes (captured from real hosts and containers).
import { describe, expect, it } from "vitest";
import { parseCgroupLimit, parseProcCgroup, rootIsReadOnly, statusField } from "./sandbox-facts.ts";

describe("statusField", () => {
  const status = "Name:\tnode\nUid:\t65532\t65532\t65532\t65532\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";
  it("reads a field's value without the key and tabs", () => {
    expect(statusField(status, "CapEff")).toBe("0000000000000000");
    expect(statusField(status, "NoNewPrivs")).toBe("1");
    expect(statusField(status, "Seccomp")).toBe("2");
  });
  it("gives null for a field that is not there, and does not match a prefix of another key", () => {
    expect(statusField(status, "CapBnd")).toBeNull();
    expect(statusField(status, "Cap")).toBeNull();
    expect(statusField("", "CapEff")).toBeNull();
  });
});

describe("parseCgroupLimit", () => {
  it("reads v2 numbers and max", () => {
    expect(parseCgroupLimit("268435456\n")).toBe(268435456);
    expect(parseCgroupLimit("64\n")).toBe(64);
    expect(parseCgroupLimit("max\n")).toBe("max");
  });
  it("treats v1's page-rounded LONG_MAX as unlimited", () => {
    expect(parseCgroupLimit("9223372036854771712\n")).toBe("max");
  });
  it("gives null for a missing file or a text that is not a limit", () => {
    expect(parseCgroupLimit(null)).toBeNull();
    expect(parseCgroupLimit("")).toBeNull();
    expect(parseCgroupLimit("-1")).toBeNull();
  });
});

describe("parseProcCgroup", () => {
  it("maps each v1 controller, including joined ones, and the v2 unified path", () => {
    const paths = parseProcCgroup("12:pids:/machine.slice/x\n4:cpu,cpuacct:/user.slice\n1:name=systemd:/init\n0::/app\n");
    expect(paths.get("pids")).toBe("/machine.slice/x");
    expect(paths.get("cpu")).toBe("/user.slice");
    expect(paths.get("cpuacct")).toBe("/user.slice");
    expect(paths.get("")).toBe("/app");
    expect(paths.has("memory")).toBe(false);
  });
});

describe("rootIsReadOnly", () => {
  it("reads the options of the last / mount, which hides the ones below it", () => {
    const container = "rootfs / rootfs rw 0 0\noverlay / overlay ro,relatime,lowerdir=/a 0 0\nproc /proc proc rw 0 0\n";
    expect(rootIsReadOnly(container)).toBe(true);
    const host = "overlay / overlay ro 0 0\n/dev/sda1 / ext4 rw,relatime 0 0\ntmpfs /tmp tmpfs ro 0 0\n";
    expect(rootIsReadOnly(host)).toBe(false);
  });
  it("does not mistake options that merely contain 'ro' for read-only, and is null without a / mount", () => {
    expect(rootIsReadOnly("overlay / overlay rw,errors=remount-ro 0 0\n")).toBe(false);
    expect(rootIsReadOnly("proc /proc proc rw 0 0\n")).toBeNull();
  });
});
