/**
 * The shell's vocabulary: a node of the tree, its commands and its get/set groups,
 * and the context a command runs in (the configuration service, the engine, output).
 */
import type { ConfigService } from "../config/service";
import type { PorticoConfig } from "../config/model";
import type { Engine } from "../engine/core/engine";
import type { ParamSpec } from "./grammar";

export interface ShellContext {
  service: ConfigService;
  engine: Engine;
  /** The stored configuration, read when the command started. */
  config: PorticoConfig;
  /** The caller's working directory (relative file paths resolve against it). */
  workdir: string;
  /** `ls` width: min(terminal, 132), 132 when not on a terminal. */
  width: number;
  /** ANSI colours in `ls` (a terminal, as targetcli). */
  colour: boolean;
  /** Whether the appliance serves this configuration now (sessions, portals listening). */
  online: boolean;
  /** A line on stdout. */
  print(line: string): void;
  /** `--json`: the command's machine-readable result. */
  setJson(value: unknown): void;
  /** Moves the shell to another node (auto_cd_after_create). */
  cd(path: string): void;
}

export interface CommandDef {
  params: ParamSpec[];
  help: string;
  /** Extra positional parameters allowed (get's parameter names). */
  variadic?: boolean;
  run(ctx: ShellContext, args: Record<string, string | undefined>, rest: string[]): Promise<void> | void;
  /** Known values of a parameter, for Tab completion. */
  complete?(ctx: ShellContext, param: string): string[];
}

export type ParamType = "number" | "bool" | "string";

export interface GroupParam {
  name: string;
  type: ParamType;
  readOnly?: boolean;
  description: string;
  /** Known values for completion (bool: true false). */
  values?: string[];
}

export interface GroupDef {
  params(ctx: ShellContext): GroupParam[];
  get(ctx: ShellContext, name: string): string;
  /** Applies every change at once (all or none), values already checked against their types. */
  set(ctx: ShellContext, values: Record<string, string | number | boolean>): Promise<void>;
}

export interface Summary {
  text: string;
  /** true OK, false ERROR, undefined unknown (`...`) when the text is empty. */
  healthy?: boolean;
}

export interface ShellNode {
  name: string;
  path: string;
  summary(): Summary;
  children(): ShellNode[];
  commands: Record<string, CommandDef>;
  groups: Record<string, GroupDef>;
  /** `info`: sorted `key: value` lines (nodes backed by an object). */
  info?(): Record<string, string | number | boolean>;
}
