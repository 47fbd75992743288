#!/usr/bin/env node
// `portico …`: runs server/cli.ts under tsx's loader, from the package root, whatever the cwd.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tsx = import.meta.resolve("tsx");
const child = spawn(process.execPath, ["--import", tsx, path.join(root, "server", "cli.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  env: process.env,
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("error", (err) => {
  process.stderr.write(`portico: cannot start the CLI: ${err.message}\n`);
  process.exit(1);
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
