/**
 * The interactive shell on a real pseudo-terminal (tmux, on its own server socket):
 * the prompt follows cd, Tab completes paths, parameters and values (first Tab
 * extends the common prefix, the next lists the choices), Ctrl-C clears the line,
 * history is kept, Ctrl-D prints `exit` and leaves. The data directory is a stopped
 * appliance's (every line opens it and closes it again).
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDataDir, portico, removeDir, root } from "../support/portico";

const socket = `portico-shell-tty-${process.pid}`;
let dataDir: string;

function tmux(...args: string[]): string {
  const r = spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const screen = () => tmux("capture-pane", "-p", "-t", "shell");
const keys = (...k: string[]) => tmux("send-keys", "-t", "shell", ...k);

/** Two Tabs, the second once the first was handled (readline lists the choices only on a second Tab in a row). */
async function tabTab(): Promise<void> {
  keys("Tab");
  await new Promise((r) => setTimeout(r, 1500));
  keys("Tab");
}

async function waitFor(test: (s: string) => boolean, what: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = screen();
    if (test(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The last non-empty line on the screen (where the cursor's line is). */
const lastLine = (s: string) => s.trimEnd().split("\n").pop() ?? "";

beforeAll(async () => {
  dataDir = makeDataDir("portico-shell-tty-");
  const cmd = `cd ${root} && PORTICO_DATA_DIR=${dataDir} PORTICO_HISTORY_FILE=${dataDir}/history node bin/portico.mjs; echo "EXITED $?"; sleep 600`;
  tmux("new-session", "-d", "-s", "shell", "-x", "160", "-y", "50", cmd);
  await waitFor((s) => lastLine(s) === "/>", "the first prompt", 90_000);
});

afterAll(() => {
  try {
    tmux("kill-server");
  } catch {
    // already gone
  }
  removeDir(dataDir);
});

describe("the interactive shell under tmux", () => {
  it("prints the banner and the prompt `/> `", () => {
    const s = screen();
    expect(s).toContain("For help on commands, type 'help'.");
    expect(lastLine(s)).toBe("/>");
  });

  it("back<Tab> completes to backstores/, and the next Tab lists its children", async () => {
    keys("back", "Tab");
    await waitFor((s) => lastLine(s) === "/> backstores/", "backstores/");
    keys("Tab");
    const s = await waitFor((x) => x.includes("backstores/fileio/"), "the list of backstores");
    expect(s).toMatch(/backstores\/block\/\s+backstores\/fileio\/\s+backstores\/ramdisk\//);
    keys("C-u");
  });

  it("offers name= for every parameter of create, and values for key=", async () => {
    keys("C-u", "/backstores/fileio create ");
    await tabTab();
    const s = await waitFor((x) => x.includes("file_or_dev="), "create's parameters");
    for (const p of ["name=", "file_or_dev=", "size=", "write_back=", "sparse=", "wwn="]) expect(s).toContain(p);
    keys("C-u", "set global auto_cd_after_create=");
    await tabTab();
    await waitFor((x) => /auto_cd_after_create=true\s+auto_cd_after_create=false/.test(x), "true false");
    keys("t", "Tab");
    await waitFor((x) => lastLine(x) === "/> set global auto_cd_after_create=true", "the value completed");
    keys("C-u");
  });

  it("the prompt follows cd; commands run at the current node", async () => {
    keys("C-u", "cd /backstores/ramdisk", "Enter");
    await waitFor((s) => lastLine(s) === "/backstores/ramdisk>", "the new prompt");
    keys("create r1 1M", "Enter");
    await waitFor((s) => s.includes("Created ramdisk r1 with size 1M."), "the create message");
    keys("del", "Tab");
    await waitFor((s) => lastLine(s) === "/backstores/ramdisk> delete", "delete completed");
    keys("r", "Tab");
    await waitFor((s) => lastLine(s) === "/backstores/ramdisk> delete r1", "the object name completed");
    keys("C-u");
  });

  it("Ctrl-C clears the line; history recalls earlier commands", async () => {
    keys("C-u", "garbage");
    await waitFor((s) => lastLine(s).endsWith("garbage"), "typed text");
    keys("C-c");
    await waitFor((s) => lastLine(s) === "/backstores/ramdisk>", "a cleared prompt");
    keys("pwd", "Enter");
    await waitFor((s) => s.includes("\n/backstores/ramdisk\n"), "pwd's output");
    expect(screen()).not.toContain("Command not found garbage");
    keys("Up");
    await waitFor((s) => lastLine(s) === "/backstores/ramdisk> pwd", "pwd from history");
    keys("C-u");
  });

  it("holds no lock while idle: another portico changes the configuration, and this shell sees it at its next command", async () => {
    const other = portico(dataDir, ["/backstores/ramdisk", "create", "r2", "2M"]);
    expect(other.stderr).toBe("");
    expect(other.status).toBe(0);
    keys("C-u", "ls", "Enter");
    const s = await waitFor((x) => /o- r2 \.+ \[\(2\.0MiB\) activated\]/.test(x), "r2 in ls");
    expect(s).toMatch(/o- ramdisk \.+ \[Storage Objects: 2\]/);
  });

  it("Ctrl-D prints exit and leaves with status 0, keeping the history", async () => {
    keys("C-u", "C-d");
    const s = await waitFor((x) => x.includes("EXITED"), "the shell to leave");
    expect(s).toMatch(/\/backstores\/ramdisk> exit\nEXITED 0/);
    const history = readFileSync(path.join(dataDir, "history"), "utf8");
    expect(history).toContain("create r1 1M\n");
    expect(history).toContain("pwd\n");
  });
});
