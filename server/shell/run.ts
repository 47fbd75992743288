/**
 * Runs one line of targetcli's language against the configuration service:
 * parse, find the node, bind the parameters, run. Commands every node has
 * (configshell node.py: cd, ls, pwd, get, set, help, status, info, refresh,
 * bookmarks, exit) live here; node-specific ones come from the tree.
 *
 * Pure with respect to I/O: output is collected in the result, so the same code
 * serves the appliance's API (online) and the CLI on a stopped data directory.
 */
import type { ConfigService } from "../config/service";
import { ConfigImportError } from "../config/errors";
import type { Engine } from "../engine/core/engine";
import { EngineError } from "../engine/core/errors";
import { bindParams, parseBool, parseLine, parseNumber, resolvePath, ShellError, type ParsedLine, type ParamSpec } from "./grammar";
import { renderTree, summaryText, treeJson } from "./render";
import { findNode, groupsOf, rootNode } from "./tree";
import type { CommandDef, GroupDef, GroupParam, ShellContext, ShellNode } from "./types";

export interface ShellRequest {
  line: string;
  /** Current path (absolute). */
  cwd: string;
  /** Path before the last cd (for `cd -`… and `cd <`). */
  previous?: string;
  width?: number;
  /** Colour `ls` (the caller's stdout is a terminal). */
  color?: boolean;
  workdir?: string;
}

export interface ShellResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  cwd: string;
  previous?: string;
  json?: unknown;
  /** `exit` was asked. */
  exit?: boolean;
}

const COMMON: Record<string, { params: ParamSpec[]; variadic?: boolean; help: string }> = {
  bookmarks: { params: [{ name: "action" }, { name: "bookmark", default: "None" }], help: "Manages bookmarks: add, del, go or show. `@name` in a path refers to a bookmark." },
  cd: { params: [{ name: "path", default: "None" }], help: "Moves to another node (absolute or relative path, .., @bookmark). Without a path, goes to /." },
  exit: { params: [], help: "Leaves the shell." },
  get: { params: [{ name: "group", default: "None" }], variadic: true, help: "Shows the configuration groups, a group's parameters, or the named parameters." },
  help: { params: [{ name: "topic", default: "None" }], help: "Lists the commands available at this node, or describes one." },
  info: { params: [], help: "Shows the object's properties (sorted key: value lines)." },
  ls: { params: [{ name: "path", default: "None" }, { name: "depth", default: "None" }], help: "Draws the tree under the current node, or under path, depth levels deep." },
  pwd: { params: [], help: "Shows the current path." },
  refresh: { params: [], help: "Reloads the tree (every command already reads the current configuration)." },
  set: { params: [{ name: "group", default: "None" }], help: "Sets parameters of a configuration group: set <group> name=value…" },
  status: { params: [], help: "Shows the status of the current node." },
};

export function describeError(err: unknown): string {
  if (err instanceof ConfigImportError) return err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
  if (err instanceof ShellError || err instanceof EngineError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function commandsOf(n: ShellNode): Record<string, { params: ParamSpec[]; variadic?: boolean; help: string }> {
  const all: Record<string, { params: ParamSpec[]; variadic?: boolean; help: string }> = { ...COMMON, ...n.commands };
  if (!n.info) delete all.info;
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : 1)));
}

function signature(name: string, params: ParamSpec[], variadic?: boolean): string {
  return `${[name, ...params.map((p) => (p.default === undefined ? p.name : `[${p.name}]`)), ...(variadic ? ["[parameter...]"] : [])].join(" ")} `;
}

export function makeContext(base: { service: ConfigService; engine: Engine; online: boolean; width?: number; color?: boolean; workdir?: string }, out: string[]) {
  let json: unknown;
  let cdTo: string | undefined;
  const ctx: ShellContext = {
    service: base.service,
    engine: base.engine,
    config: base.service.config(),
    workdir: base.workdir ?? process.cwd(),
    width: base.width ?? 132,
    colour: base.color ?? false,
    online: base.online,
    print: (line) => out.push(line),
    setJson: (v) => (json = v),
    cd: (p) => (cdTo = p),
  };
  return { ctx, json: () => json, cdTo: () => cdTo };
}

function bookmarksOf(ctx: ShellContext): Record<string, string> {
  return ctx.service.preference<Record<string, string>>("bookmarks") ?? {};
}

/** Resolves a PATH token (`..`, `@bookmark`, relative) against cwd. */
function resolveToken(ctx: ShellContext, cwd: string, token: string, previous?: string): string {
  if (token === "<" || token === "-") return previous ?? cwd;
  if (token.startsWith("@")) {
    const b = bookmarksOf(ctx)[token.slice(1)];
    if (!b) throw new ShellError(`No such bookmark ${token.slice(1)}`);
    return b;
  }
  return resolvePath(cwd, token);
}

export async function runLine(base: { service: ConfigService; engine: Engine; online: boolean }, req: ShellRequest): Promise<ShellResult> {
  const out: string[] = [];
  const { ctx, json, cdTo } = makeContext({ ...base, width: req.width, color: req.color, workdir: req.workdir }, out);
  let cwd = req.cwd || "/";
  let previous = req.previous;
  const result = (ok: boolean, stderr = "", exit?: boolean): ShellResult => ({
    ok,
    stdout: out.map((l) => `${l}\n`).join(""),
    stderr: stderr ? `${stderr}\n` : "",
    cwd,
    previous,
    json: json(),
    exit,
  });
  try {
    // The stored cwd may be gone (another shell deleted it): fall back to the nearest existing parent, as targetcli does.
    cwd = nearestExisting(ctx, cwd);
    const parsed = parseLine(req.line);
    if (!parsed.path && !parsed.command) return result(true);
    let target = cwd;
    if (parsed.path) {
      if (parsed.path === "*") throw new ShellError("Paths with * are not supported.");
      target = resolveToken(ctx, cwd, parsed.path, previous);
    }
    const n = findNode(ctx, target);
    const command = parsed.command ?? "cd";
    if (!parsed.command) {
      if (target !== cwd) [previous, cwd] = [cwd, n.path];
      return result(true);
    }
    const exit = await runCommand(ctx, n, command, parsed, {
      cd: (p) => {
        if (p !== cwd) [previous, cwd] = [cwd, p];
      },
      cwd: () => cwd,
      previous: () => previous,
    });
    const to = cdTo();
    if (to && to !== cwd) [previous, cwd] = [cwd, to];
    return result(true, "", exit);
  } catch (err) {
    return result(false, describeError(err));
  }
}

function nearestExisting(ctx: ShellContext, cwd: string): string {
  let p = cwd;
  for (;;) {
    try {
      return findNode(ctx, p).path;
    } catch {
      if (p === "/") return "/";
      p = resolvePath(p, "..");
    }
  }
}

interface Nav {
  cd(path: string): void;
  cwd(): string;
  previous(): string | undefined;
}

/** Runs `command` on node `n`; returns true for `exit`. */
async function runCommand(ctx: ShellContext, n: ShellNode, command: string, parsed: ParsedLine, nav: Nav): Promise<boolean> {
  const def: CommandDef | undefined = n.commands[command];
  if (def) {
    const { args, rest } = bindParams(command, def.params, parsed, { variadic: def.variadic });
    await def.run(ctx, args, rest);
    return false;
  }
  const common = COMMON[command];
  if (!common || (command === "info" && !n.info)) throw new ShellError(`Command not found ${command}`);
  if (command === "set") return (await setCommand(ctx, n, parsed), false);
  const { args, rest } = bindParams(command, common.params, parsed, { variadic: common.variadic });
  switch (command) {
    case "cd": {
      const to = args.path === undefined ? "/" : findNode(ctx, resolveToken(ctx, nav.cwd(), args.path, nav.previous())).path;
      nav.cd(to);
      ctx.setJson({ path: to });
      return false;
    }
    case "pwd":
      ctx.print(n.path);
      ctx.setJson({ path: n.path });
      return false;
    case "ls": {
      let target = n;
      let depthRaw = args.depth;
      // `ls 2` = depth 2 at the current node (configshell accepts a bare number as depth).
      if (args.path !== undefined && /^\d+$/.test(args.path) && depthRaw === undefined) depthRaw = args.path;
      else if (args.path !== undefined) target = findNode(ctx, resolveToken(ctx, n.path, args.path, nav.previous()));
      // depth 0 is the whole tree, as configshell.
      const depth = depthRaw === undefined ? undefined : parseNumber(depthRaw, "depth") || undefined;
      for (const line of renderTree(target, ctx.width, depth, ctx.colour)) ctx.print(line);
      ctx.setJson(treeJson(target, depth));
      return false;
    }
    case "status": {
      const s = n.summary();
      ctx.print(`Status for ${n.path}: ${s.text}`);
      ctx.setJson({ path: n.path, summary: summaryText(s), healthy: s.healthy });
      return false;
    }
    case "info": {
      const info = n.info!();
      for (const k of Object.keys(info).sort()) ctx.print(`${k}: ${String(info[k])}`);
      ctx.setJson(info);
      return false;
    }
    case "refresh":
      ctx.setJson({ path: n.path });
      return false;
    case "exit":
      return true;
    case "help":
      help(ctx, n, args.topic);
      return false;
    case "get":
      get(ctx, n, args.group, rest);
      return false;
    case "bookmarks":
      await bookmarks(ctx, args.action!, args.bookmark, nav.cwd());
      return false;
  }
  throw new ShellError(`Command not found ${command}`);
}

function help(ctx: ShellContext, n: ShellNode, topic: string | undefined): void {
  const cmds = commandsOf(n);
  if (topic === undefined) {
    ctx.print("");
    ctx.print("AVAILABLE COMMANDS");
    ctx.print("==================");
    ctx.print("The following commands are available in the current path:");
    ctx.print("");
    for (const [name, c] of Object.entries(cmds)) ctx.print(`  - ${signature(name, c.params, c.variadic)}`);
    ctx.setJson(Object.keys(cmds));
    return;
  }
  const c = cmds[topic];
  if (!c) throw new ShellError(`Cannot find help topic ${topic}.`);
  ctx.print("");
  ctx.print("SYNTAX");
  ctx.print("======");
  ctx.print(signature(topic, c.params, c.variadic));
  ctx.print("");
  const defaults = c.params.filter((p) => p.default !== undefined);
  if (defaults.length) {
    ctx.print("DEFAULT VALUES");
    ctx.print("==============");
    for (const p of defaults) ctx.print(`${p.name}=${p.default}`);
    ctx.print("");
  }
  ctx.print("DESCRIPTION");
  ctx.print("===========");
  ctx.print(c.help);
  ctx.setJson({ command: topic, params: c.params, description: c.help });
}

/** `get` and `set` without a group: the node's configuration groups, as configshell lists them. */
function printGroups(ctx: ShellContext, groups: Record<string, GroupDef>): void {
  ctx.print("AVAILABLE CONFIGURATION GROUPS");
  ctx.print("==============================");
  ctx.print(Object.keys(groups).join(" "));
  ctx.setJson(Object.keys(groups));
}

function groupOrThrow(n: ShellNode, group: string) {
  const g = groupsOf(n)[group];
  if (!g) throw new ShellError(`Unknown configuration group: ${group}`);
  return g;
}

function get(ctx: ShellContext, n: ShellNode, group: string | undefined, names: string[]): void {
  const groups = groupsOf(n);
  if (group === undefined) return printGroups(ctx, groups);
  const g = groupOrThrow(n, group);
  const params = g.params(ctx);
  if (names.length === 0) {
    const title = `${group.toUpperCase()} CONFIG GROUP`;
    ctx.print(title);
    ctx.print("=".repeat(title.length));
    const values: Record<string, string> = {};
    for (const p of params) {
      const line = `${p.name}=${g.get(ctx, p.name)}${p.readOnly ? " [ro]" : ""}`;
      values[p.name] = g.get(ctx, p.name);
      ctx.print(line);
      ctx.print("-".repeat(line.length));
      ctx.print(p.description);
      ctx.print("");
    }
    ctx.setJson(values);
    return;
  }
  const values: Record<string, string> = {};
  const parts: string[] = [];
  for (const name of names) {
    const p = params.find((x) => x.name === name);
    if (!p) throw new ShellError(`Unknown parameter ${name} in group '${group}'.`);
    values[name] = g.get(ctx, name);
    parts.push(`${name}=${values[name]} ${p.readOnly ? "[ro]" : ""}`.replace(/ \[ro\]$/, " [ro]"));
  }
  for (const p of parts) ctx.print(p);
  ctx.setJson(values);
}

function checkValue(p: GroupParam, raw: string): string | number | boolean {
  if (p.type === "number") return parseNumber(raw, p.name);
  if (p.type === "bool") return parseBool(raw, p.name);
  return raw;
}

async function setCommand(ctx: ShellContext, n: ShellNode, parsed: ParsedLine): Promise<void> {
  const [group, ...extra] = parsed.pparams;
  const groups = groupsOf(n);
  if (group === undefined) return printGroups(ctx, groups);
  if (extra.length) throw new ShellError(`Syntax error: set takes name=value pairs after the group, not '${extra[0]}'.`);
  const g = groupOrThrow(n, group);
  const params = g.params(ctx);
  const values: Record<string, string | number | boolean> = {};
  const seen = new Set<string>();
  // Check every parameter before changing anything: the change is all or none.
  for (const [name, raw] of parsed.kparams) {
    const p = params.find((x) => x.name === name);
    if (!p) throw new ShellError(`Unknown parameter ${name} in group '${group}'.`);
    if (seen.has(name)) throw new ShellError(`Duplicate parameter ${name}.`);
    seen.add(name);
    if (p.readOnly) throw new ShellError(`Parameter ${name} is read-only.`);
    values[name] = checkValue(p, raw);
  }
  if (seen.size === 0) {
    // `set attribute` alone lists the group, as configshell prints its parameters.
    get(ctx, n, group, []);
    return;
  }
  await g.set(ctx, values);
  // Read back from the stored configuration: what is printed is what was kept.
  ctx.config = ctx.service.config();
  const fresh = groupsOf(findNode(ctx, n.path))[group];
  for (const [name] of parsed.kparams) ctx.print(`Parameter ${name} is now '${fresh.get(ctx, name)}'.`);
  ctx.setJson(Object.fromEntries(parsed.kparams.map(([k]) => [k, fresh.get(ctx, k)])));
}

async function bookmarks(ctx: ShellContext, action: string, name: string | undefined, cwd: string): Promise<void> {
  const marks = bookmarksOf(ctx);
  switch (action) {
    case "add": {
      if (!name) throw new ShellError("Missing required parameter bookmark");
      marks[name] = cwd;
      await ctx.service.setPreferences({ bookmarks: marks });
      ctx.print(`Bookmarked ${cwd} as ${name}.`);
      break;
    }
    case "del": {
      if (!name || !(name in marks)) throw new ShellError(`No such bookmark ${name ?? ""}.`);
      delete marks[name];
      await ctx.service.setPreferences({ bookmarks: marks });
      ctx.print(`Deleted bookmark ${name}.`);
      break;
    }
    case "go": {
      if (!name || !(name in marks)) throw new ShellError(`No such bookmark ${name ?? ""}.`);
      ctx.cd(marks[name]);
      break;
    }
    case "show":
      if (Object.keys(marks).length === 0) ctx.print("No bookmarks yet.");
      for (const [k, v] of Object.entries(marks)) ctx.print(`${k} -> ${v}`);
      break;
    default:
      throw new ShellError(`Unknown bookmarks action ${action}: use add, del, go or show.`);
  }
  ctx.setJson(marks);
}

export { rootNode };
