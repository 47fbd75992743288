/**
 * The shell's I/O edges: one-shot (`portico <command line>`), piped
 * (`portico < script`) and interactive (node:readline with Tab completion).
 *
 * Every line goes to a Backend: the running appliance (tRPC with the runtime-file
 * token) when there is one, else the stopped data directory, opened for that one
 * line and closed again, so no lock is held while a shell sits idle and each line
 * sees what the console and other shells changed.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { promptPath } from "./grammar";
import type { CompleteRequest, Completion } from "./complete";
import type { ShellRequest, ShellResult } from "./run";

export interface Backend {
  run(req: ShellRequest): Promise<ShellResult>;
  complete(req: CompleteRequest): Promise<Completion>;
}

export interface ShellIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  version: string;
}

const USAGE = `targetcli's language, one command: portico [--json] [PATH] COMMAND [ARGS…]   (e.g. portico ls /iscsi)
interactive shell: portico            commands from a script: portico < script`;

function width(io: ShellIo): number {
  return io.stdout.isTTY && io.stdout.columns ? Math.min(io.stdout.columns, 132) : 132;
}

/** Colours as targetcli: only when stdout is a terminal (and NO_COLOR is not set), never with --json. */
function colour(io: ShellIo, json: boolean): boolean {
  return Boolean(io.stdout.isTTY) && !json && !process.env.NO_COLOR;
}

function print(io: ShellIo, r: ShellResult, json: boolean): void {
  if (json) {
    if (r.ok) io.stdout.write(`${JSON.stringify(r.json ?? null, null, 2)}\n`);
  } else io.stdout.write(r.stdout);
  if (!r.ok) io.stderr.write(r.stderr);
}

/** Returns the exit code. `argv` is what follows `portico` (options included). */
export async function shellMain(argv: string[], backend: Backend, io: ShellIo): Promise<number> {
  let json = false;
  const args = [...argv];
  while (args[0]?.startsWith("--") || args[0] === "-h" || args[0] === "-v") {
    const opt = args.shift()!;
    if (opt === "--json") json = true;
    else if (opt === "--help" || opt === "-h") {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    } else if (opt === "--version" || opt === "-v") {
      io.stdout.write(`${io.version}\n`);
      return 0;
    } else {
      io.stderr.write(`Unknown option ${opt}.\n`);
      return 1;
    }
  }
  const workdir = process.cwd();
  if (args.length) {
    const r = await backend.run({ line: args.join(" "), cwd: "/", width: width(io), color: colour(io, json), workdir });
    print(io, r, json);
    return r.ok ? 0 : 1;
  }
  if (io.stdin.isTTY) return interactive(backend, io, json, workdir);
  return piped(backend, io, json, workdir);
}

function banner(io: ShellIo): void {
  // targetcli's banner, with Portico's name: its first line names the shell and version, the last is targetcli's own.
  io.stdout.write(`Portico shell version ${io.version} (targetcli's language)\nFor help on commands, type 'help'.\n\n`);
}

/**
 * Commands on stdin, one per line, in order: `cd` carries over, errors go to stderr and the
 * rest still runs. As targetcli: banner and prompts are printed, commands are not echoed,
 * `exit` at EOF. Unlike targetcli the exit code says whether every line succeeded.
 */
async function piped(backend: Backend, io: ShellIo, json: boolean, workdir: string): Promise<number> {
  const rl = readline.createInterface({ input: io.stdin, terminal: false, crlfDelay: Infinity });
  let cwd = "/";
  let previous: string | undefined;
  let failed = false;
  if (!json) banner(io);
  const prompt = () => !json && io.stdout.write(`${promptPath(cwd)}> `);
  prompt();
  for await (const line of rl) {
    const r = await backend.run({ line, cwd, previous, width: width(io), color: colour(io, json), workdir });
    print(io, r, json && line.trim() !== "");
    if (!r.ok) failed = true;
    cwd = r.cwd;
    previous = r.previous;
    if (r.exit) {
      rl.close();
      return failed ? 1 : 0;
    }
    prompt();
  }
  if (!json) io.stdout.write("exit\n");
  return failed ? 1 : 0;
}

function historyFile(): string {
  return process.env.PORTICO_HISTORY_FILE ?? path.join(os.homedir(), ".portico_history");
}

/** The interactive shell: prompt `<path>> `, history, Tab completion, Ctrl-C clears the line, Ctrl-D leaves. */
async function interactive(backend: Backend, io: ShellIo, json: boolean, workdir: string): Promise<number> {
  let cwd = "/";
  let previous: string | undefined;
  let history: string[] = [];
  try {
    history = fs.readFileSync(historyFile(), "utf8").split("\n").filter(Boolean).reverse().slice(0, 1000);
  } catch {
    // no history yet
  }
  const rl = readline.createInterface({
    input: io.stdin,
    output: io.stdout,
    terminal: true,
    history,
    historySize: 1000,
    removeHistoryDuplicates: true,
    tabSize: 4,
    completer: (line: string, cb: (err: Error | null, result: Completion) => void) => {
      backend.complete({ line, cwd }).then(
        (r) => cb(null, r),
        () => cb(null, [[], line]),
      );
    },
  });
  banner(io);
  const setPrompt = () => rl.setPrompt(`${promptPath(cwd)}> `);
  setPrompt();
  rl.prompt();
  rl.on("SIGINT", () => {
    // Ctrl-C clears the line (readline keeps it otherwise) and shows a fresh prompt.
    (rl as unknown as { line: string }).line = "";
    io.stdout.write("\n");
    rl.prompt();
  });
  return new Promise<number>((resolve) => {
    let busy = Promise.resolve();
    let leaving = false;
    rl.on("line", (line) => {
      rl.pause();
      busy = busy.then(async () => {
        try {
          const r = await backend.run({ line, cwd, previous, width: width(io), color: colour(io, json), workdir });
          print(io, r, json && line.trim() !== "");
          cwd = r.cwd;
          previous = r.previous;
          if (r.exit) {
            leaving = true;
            rl.close();
            return;
          }
        } catch (err) {
          io.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        }
        setPrompt();
        rl.resume();
        rl.prompt();
      });
    });
    rl.on("close", () => {
      void busy.then(() => {
        if (!leaving) io.stdout.write("exit\n");
        try {
          const h = (rl as unknown as { history: string[] }).history;
          fs.writeFileSync(historyFile(), `${[...h].reverse().join("\n")}\n`, { mode: 0o600 });
        } catch {
          // history is a convenience
        }
        resolve(0);
      });
    });
  });
}
