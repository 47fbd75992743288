/**
 * targetcli's command-line grammar (configshell shell.py), as pure functions:
 *
 *   [PATH] [COMMAND] [pparam…] [key=value…]
 *
 * A PATH token contains '/', or is '.', '..', '@bookmark' or '*'; a PATH with no
 * command means `cd`. There is no quoting. Also: sizes (`64M`, `1G`) and their
 * display, targetcli's value types (bool, number), and children's sort order.
 */

export interface ParsedLine {
  path?: string;
  command?: string;
  /** Positional parameters, in order. */
  pparams: string[];
  /** Keyword parameters, in the order given. */
  kparams: [string, string][];
}

export class ShellError extends Error {}

/** configshell's value characters (no spaces, no quotes). */
const VALUE_CHARS = /^[A-Za-z0-9?;&*$!#,=_+/.<>()~@:%[\]-]*$/;

export function isPathToken(token: string): boolean {
  return token.includes("/") || token === "." || token === ".." || token.startsWith("@") || token === "*" || token === "<" || token === ">";
}

/** Splits on whitespace (no quoting, as configshell). */
export function tokenize(line: string): string[] {
  return line.trim().split(/\s+/).filter(Boolean);
}

export function parseLine(line: string): ParsedLine {
  const tokens = tokenize(line.replace(/(^|\s)#.*$/, ""));
  const out: ParsedLine = { pparams: [], kparams: [] };
  let i = 0;
  if (tokens[0] !== undefined && isPathToken(tokens[0])) out.path = tokens[i++];
  if (tokens[i] !== undefined) {
    if (tokens[i].includes("=")) throw new ShellError(`Command not found ${tokens[i]}`);
    out.command = tokens[i++];
  }
  for (; i < tokens.length; i++) {
    const t = tokens[i];
    if (!VALUE_CHARS.test(t)) throw new ShellError(`Syntax error: unexpected character in '${t}'.`);
    const eq = t.indexOf("=");
    if (eq > 0) out.kparams.push([t.slice(0, eq), t.slice(eq + 1)]);
    else if (out.kparams.length) throw new ShellError(`Syntax error: positional parameter '${t}' after keyword parameters.`);
    else out.pparams.push(t);
  }
  return out;
}

/** Commands that never change the configuration (served as queries: not in the audit log). */
const READ_ONLY_COMMANDS = new Set(["cd", "exit", "get", "help", "info", "ls", "pwd", "refresh", "sessions", "status", "version"]);

/** Whether a line only reads (a bare PATH is a cd). A line that does not parse counts as read-only: it fails either way. */
export function isReadOnlyLine(line: string): boolean {
  try {
    const p = parseLine(line);
    return p.command === undefined || READ_ONLY_COMMANDS.has(p.command);
  } catch {
    return true;
  }
}

export interface ParamSpec {
  name: string;
  /** Undefined = required. */
  default?: string;
}

/**
 * Binds positional and keyword parameters to a command's signature, with
 * configshell's errors. Extra positional parameters go to `rest` only if `variadic`.
 */
export function bindParams(command: string, params: ParamSpec[], parsed: ParsedLine, opts: { variadic?: boolean } = {}): { args: Record<string, string | undefined>; rest: string[] } {
  const args: Record<string, string | undefined> = {};
  const rest: string[] = [];
  parsed.pparams.forEach((v, i) => {
    if (i < params.length) args[params[i].name] = v;
    else if (opts.variadic) rest.push(v);
    else throw new ShellError(`Too many parameters for ${command}: expected at most ${params.length}.`);
  });
  for (const [k, v] of parsed.kparams) {
    if (!params.some((p) => p.name === k)) throw new ShellError(`Unexpected keyword parameter '${k}'.`);
    if (k in args) throw new ShellError(`Duplicate parameter ${k}.`);
    args[k] = v;
  }
  for (const p of params) {
    if (args[p.name] === undefined) {
      if (p.default === undefined) throw new ShellError(`Missing required parameter ${p.name}`);
      args[p.name] = p.default === "None" ? undefined : p.default;
    }
  }
  return { args, rest };
}

// ---- value types (configshell ui_type_*) -------------------------------------

export function parseBool(value: string, name: string): boolean {
  const v = value.toLowerCase();
  if (["true", "yes", "1", "on"].includes(v)) return true;
  if (["false", "no", "0", "off"].includes(v)) return false;
  throw new ShellError(`Not setting ${name}! Syntax error, '${value}' is not true|false.`);
}

export function parseNumber(value: string, name: string): number {
  if (!/^-?\d+$/.test(value)) throw new ShellError(`Not setting ${name}! Syntax error, '${value}' is not a NUMBER.`);
  return Number(value);
}

// ---- sizes (targetcli ui_backstore.human_to_bytes / bytes_to_human) ------------

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `64M`, `1G`, `1GiB`, `512`, `4kb` → bytes (1024-based, as targetcli). */
export function parseSize(raw: string): number {
  const s = raw.toLowerCase().replace("i", "");
  const m = /^(\d+)([kmgt]?)b?$/.exec(s);
  if (!m) throw new ShellError(`Invalid size '${raw}': use a number of bytes or one like 64M, 1G, 2T.`);
  return Number(m[1]) * UNITS[m[2]];
}

/** `512 bytes`, `1.0GiB` (targetcli bytes_to_human: %3.1f). */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)}${units[u]}`;
}

/**
 * configshell's child order (node.py sorting_keys): a name with trailing digits sorts as
 * (text before them, their number), any other name as (name, 0); so lun2 < lun10.
 */
export function naturalCompare(a: string, b: string): number {
  const key = (s: string): [string, number] => {
    const m = /^(.*?)(\d+)$/.exec(s);
    return m ? [m[1], Number(m[2])] : [s, 0];
  };
  const [ta, na] = key(a);
  const [tb, nb] = key(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return na - nb;
}

/** Joins `cwd` and a path argument (absolute, relative, `.`, `..`) into an absolute path. */
export function resolvePath(cwd: string, target: string): string {
  const parts = target.startsWith("/") ? [] : cwd.split("/").filter(Boolean);
  for (const seg of target.split("/")) {
    if (!seg || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join("/")}`;
}

/** The prompt's path: longer than 30 characters shows as first 13 + `...` + last 13. */
export function promptPath(path: string, length = 30): string {
  if (path.length <= length) return path;
  return `${path.slice(0, 13)}...${path.slice(-13)}`;
}
