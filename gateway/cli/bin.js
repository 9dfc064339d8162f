#!/usr/bin/env node
// The installed `gatehouse` command. Gatehouse runs its TypeScript directly on Node >= 22.18 (type stripping);
// `npx gatehouse` and npm scripts use the Node 24 that `npm ci` installs.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `gatehouse needs Node >= 22.18 (found ${process.versions.node}). Run it as "npx gatehouse" from the repository, ` +
      `which uses the Node 24 installed by "npm run setup".\n`,
  );
  process.exit(1);
}
const { runCli } = await import("./main.ts");
runCli(process.argv.slice(2));
