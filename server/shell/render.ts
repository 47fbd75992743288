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

export function renderLine(prefix: string, name: string, summary: Summary, width: number): string {
  const left = `${prefix}o- ${name}`;
  const right = `[${summaryText(summary)}]`;
  const dots = width - left.length - right.length - 2;
  return dots > 0 ? `${left} ${".".repeat(dots)} ${right}` : `${left}  ${right}`;
}

/** The tree under `root`, `depth` levels deep (undefined: all). */
export function renderTree(root: ShellNode, width: number, depth?: number): string[] {
  const lines: string[] = [renderLine("", root.name, root.summary(), width)];
  const walk = (n: ShellNode, prefix: string, level: number) => {
    if (depth !== undefined && level >= depth) return;
    const kids = sortedChildren(n);
    kids.forEach((k, i) => {
      lines.push(renderLine(prefix, k.name, k.summary(), width));
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
