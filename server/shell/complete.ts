/**
 * Tab completion (configshell shell._complete): paths, commands, `name=` for each
 * parameter not given yet, and values where they are known (object names for
 * `delete`, storage object paths for `luns create`, true/false, group and parameter
 * names for get/set). Returns readline's `[hits, substring]`: node:readline extends
 * the common prefix on the first Tab and lists the hits on the second.
 */
import type { ConfigService } from "../config/service";
import type { Engine } from "../engine/core/engine";
import { isPathToken, resolvePath, type ParamSpec } from "./grammar";
import { commandsOf, makeContext } from "./run";
import { findNode, groupsOf, sortedChildren } from "./tree";
import type { ShellContext, ShellNode } from "./types";

export interface CompleteRequest {
  line: string;
  cwd: string;
}

export type Completion = [string[], string];

function tryNode(ctx: ShellContext, p: string): ShellNode | undefined {
  try {
    return findNode(ctx, p);
  } catch {
    return undefined;
  }
}

/** Completes a path token: children of the directory part, each with a trailing `/`. */
function completePath(ctx: ShellContext, cwd: string, token: string): string[] {
  const slash = token.lastIndexOf("/");
  const dirPart = slash >= 0 ? token.slice(0, slash + 1) : "";
  const base = slash >= 0 ? token.slice(slash + 1) : token;
  const dir = tryNode(ctx, dirPart ? resolvePath(cwd, dirPart) : cwd);
  if (!dir) return [];
  const out = sortedChildren(dir)
    .filter((c) => c.name.startsWith(base))
    .map((c) => `${dirPart}${c.name}/`);
  if (!dirPart) for (const s of ["..", "/"]) if (s.startsWith(base) && base) out.push(s === ".." ? "../" : s);
  return out;
}

export function complete(base: { service: ConfigService; engine: Engine; online: boolean }, req: CompleteRequest): Completion {
  const { ctx } = makeContext(base, []);
  const cwd = tryNode(ctx, req.cwd)?.path ?? "/";
  const line = req.line;
  const tokens = line.split(/\s+/).filter(Boolean);
  const endsWithSpace = /\s$/.test(line) || line === "";
  const current = endsWithSpace ? "" : tokens.pop() ?? "";
  // tokens: the complete ones before the one being typed.
  let i = 0;
  let node = tryNode(ctx, cwd)!;
  if (tokens.length && isPathToken(tokens[0])) {
    const n = tryNode(ctx, resolvePath(cwd, tokens[0]));
    if (!n) return [[], current];
    node = n;
    i = 1;
  }
  const commands = commandsOf(node);
  if (i === tokens.length) {
    // First word (or the one after a path): a path (only as the first word) or a command.
    const hits = [...(i === 0 ? completePath(ctx, cwd, current) : []), ...Object.keys(commands).filter((c) => c.startsWith(current)).map((c) => `${c} `)];
    return [hits, current];
  }
  const command = tokens[i];
  const args = tokens.slice(i + 1);
  if (command === "cd" || command === "ls") {
    if (args.length === 0) return [completePath(ctx, node.path, current), current];
    return [[], current];
  }
  if (command === "get" || command === "set") {
    const groups = groupsOf(node);
    if (args.length === 0) return [Object.keys(groups).filter((g) => g.startsWith(current)).map((g) => `${g} `), current];
    const g = groups[args[0]];
    if (!g) return [[], current];
    const params = g.params(ctx);
    const eq = current.indexOf("=");
    if (command === "set" && eq >= 0) {
      const p = params.find((x) => x.name === current.slice(0, eq));
      const values = p?.values ?? (p?.type === "bool" ? ["true", "false"] : []);
      const v = current.slice(eq + 1);
      return [values.filter((x) => x.startsWith(v)).map((x) => `${current.slice(0, eq + 1)}${x} `), current];
    }
    const given = new Set(args.slice(1).map((a) => a.split("=")[0]));
    const hits = params.filter((p) => !given.has(p.name) && p.name.startsWith(current)).map((p) => (command === "set" ? `${p.name}=` : `${p.name} `));
    return [hits, current];
  }
  const def = node.commands[command] ?? commands[command];
  if (!def) return [[], current];
  const params: ParamSpec[] = def.params;
  const valuesOf = (name: string): string[] => (node.commands[command]?.complete?.(ctx, name) ?? []).map(String);
  const eq = current.indexOf("=");
  if (eq >= 0) {
    const name = current.slice(0, eq);
    const v = current.slice(eq + 1);
    return [valuesOf(name).filter((x) => x.startsWith(v)).map((x) => `${name}=${x} `), current];
  }
  // Which parameter is next by position, and which are given already.
  const positional = args.filter((a) => !a.includes("="));
  const givenKw = new Set(args.filter((a) => a.includes("=")).map((a) => a.split("=")[0]));
  const given = new Set([...params.slice(0, positional.length).map((p) => p.name), ...givenKw]);
  const hits: string[] = [];
  const next = givenKw.size === 0 ? params[positional.length] : undefined;
  if (next) hits.push(...valuesOf(next.name).filter((x) => x.startsWith(current)).map((x) => `${x} `));
  hits.push(...params.filter((p) => !given.has(p.name) && `${p.name}=`.startsWith(current)).map((p) => `${p.name}=`));
  return [hits, current];
}
