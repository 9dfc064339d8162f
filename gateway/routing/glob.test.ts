import { describe, expect, it } from "vitest";
import { globMatch, toolFilter } from "./glob.ts";

describe("globMatch", () => {
  it.each([
    ["read_file", "read_file", true],
    ["read_file", "read_files", false],
    ["read_file", "read_fil", false],
    ["", "", true],
    ["", "x", false],
    ["*", "", true],
    ["*", "anything.at-all", true],
    ["**", "x", true],
    ["read_*", "read_file", true],
    ["read_*", "read_", true],
    ["read_*", "write_file", false],
    ["*_file", "read_file", true],
    ["*_file", "read_file_now", false],
    ["*file*", "my_file_tool", true],
    ["a*b*c", "aXXbYYc", true],
    ["a*b*c", "abc", true],
    ["a*b*c", "acb", false],
    ["a*b", "abab", true],
    ["a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false],
    ["?", "x", true],
    ["?", "", false],
    ["?", "xy", false],
    ["get_?", "get_a", true],
    ["get_?", "get_ab", false],
    ["?*", "", false],
    ["?*", "a", true],
    ["*?", "ab", true],
    ["v?.?", "v1.2", true],
    ["?", "😀", true],
    ["a.b", "aXb", false],
    ["[ab]", "[ab]", true],
    ["[ab]", "a", false],
    ["Read*", "read_file", false],
  ])("%j vs %j → %s", (pattern, text, expected) => {
    expect(globMatch(pattern, text)).toBe(expected);
  });
});

describe("toolFilter", () => {
  const names = ["read_file", "write_file", "delete_file", "search", "admin_reset"];
  it.each([
    ["no filter", undefined, names],
    ["empty filter", {}, names],
    ["allow", { allow: ["read_*", "search"] }, ["read_file", "search"]],
    ["deny", { deny: ["delete_*", "admin_*"] }, ["read_file", "write_file", "search"]],
    ["allow and deny", { allow: ["*_file"], deny: ["delete_*"] }, ["read_file", "write_file"]],
    ["deny wins over allow", { allow: ["*"], deny: ["*"] }, []],
    ["empty allow lets nothing in", { allow: [] }, []],
    ["empty deny excludes nothing", { deny: [] }, names],
  ])("%s", (_label, filter, expected) => {
    expect(names.filter(toolFilter(filter))).toEqual(expected);
  });
});
