/**
 * `ls`: configshell's _render_tree, byte for byte.
 *
 *   prefix ("| " per ancestor with later siblings, else "  ") + "o- " + name
 *   + " " + dots + " " + "[summary]", every line exactly `width` wide
 *   (two spaces instead of the dots when there is no room for one).
 * An empty summary shows as OK / ERROR / ... (healthy / unhealthy / unknown).
 */
import { sortedChildren } from "./tree";
import type { ShellNode, Summary } from "./types";

export function summaryText(s: Summary): string {
  if (s.text) return s.text;
  return s.healthy === true ? "OK" : s.healthy === false ? "ERROR" : "...";
}

const SGR = { reset: "\x1b[0m", bold: "\x1b[1m", underline: "\x1b[4m", red: "\x1b[31m", green: "\x1b[32m", blue: "\x1b[34m", magenta: "\x1b[35m" };

/** Colours as configshell on a terminal: names by depth (none, blue, magenta…), summaries green when healthy, red when not. */
function paint(text: string, ...codes: (keyof typeof SGR | undefined)[]): string {
  const on = codes.filter((c): c is keyof typeof SGR => c !== undefined).map((c) => SGR[c]).join("");
  return on && text ? `${on}${text}${SGR.reset}` : text;
}

export function renderLine(prefix: string, name: string, summary: Summary, width: number, colour?: { path: string; root: boolean }): string {
  const left = `${prefix}o- ${name}`;
  const text = summaryText(summary);
  const right = `[${text}]`;
  const dots = width - left.length - right.length - 2;
  const dotted = dots > 0 ? ".".repeat(dots) : "";
  // No room for dots: two spaces between name and summary.
  if (!colour) return `${left} ${dotted} ${right}`;
  const level = colour.path.replace(/\/+$/, "").split("/").length - 1;
  const hue = level % 3 === 0 ? undefined : (level - 1) % 3 === 0 ? "blue" : "magenta";
  const styledName = colour.root ? paint(name, hue, "bold", "underline") : paint(name, hue, "bold");
  const styledText = summary.healthy === true ? paint(text, "green") : summary.healthy === false ? paint(text, "red", "bold") : text;
  return `${prefix}o- ${styledName} ${paint(dotted, hue)} ${paint("[", "bold")}${styledText}${paint("]", "bold")}`;
}

/** The tree under `root`, `depth` levels deep (undefined: all); with `colour`, ANSI colours as on targetcli's terminal. */
export function renderTree(root: ShellNode, width: number, depth?: number, colour = false): string[] {
  const lines: string[] = [renderLine("", root.name, root.summary(), width, colour ? { path: root.path, root: true } : undefined)];
  const walk = (n: ShellNode, prefix: string, level: number) => {
    if (depth !== undefined && level >= depth) return;
    const kids = sortedChildren(n);
    kids.forEach((k, i) => {
      lines.push(renderLine(prefix, k.name, k.summary(), width, colour ? { path: k.path, root: false } : undefined));
      walk(k, prefix + (i < kids.length - 1 ? "| " : "  "), level + 1);
    });
  };
  walk(root, "  ", 0);
  return lines;
}

export interface TreeJson {
  name: string;
  path: string;
  summary: string;
  healthy?: boolean;
  children: TreeJson[];
}

export function treeJson(n: ShellNode, depth?: number, level = 0): TreeJson {
  const s = n.summary();
  return {
    name: n.name,
    path: n.path,
    summary: summaryText(s),
    ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
    children: depth !== undefined && level >= depth ? [] : sortedChildren(n).map((c) => treeJson(c, depth, level + 1)),
  };
}
