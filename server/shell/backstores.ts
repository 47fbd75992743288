/**
 * The backstore node kinds under /backstores, as one table: each row is a directory
 * (`fileio`, `block`, `ramdisk`, `user:rbd`…), the signature of its `create`
 * (targetcli's argument names, positions and defaults), how those arguments become a
 * storage object, and its `ls` summary. Adding a backstore to the shell = adding a row
 * here (see docs/shell.md, "Adding a backstore").
 */
import fs from "node:fs";
import path from "node:path";
import type { BackstorePlugin } from "../engine/backstores/backstore";
import type { CreateStorageObjectInput } from "../config/service";
import type { StorageObjectConfig } from "../config/model";
import { parseRbdConfig } from "../engine/backstores/rbd-config";
import { formatSize, parseBool, parseSize, ShellError, type ParamSpec } from "./grammar";

export interface BackstoreKind {
  /** The directory under /backstores (targetcli's plugin name, e.g. `fileio`, `user:rbd`). */
  dir: string;
  /** The engine's plugin, as stored in the configuration. */
  plugin: BackstorePlugin;
  /** `create` signature, in targetcli's order. */
  createParams: ParamSpec[];
  createHelp: string;
  /**
   * Turns bound `create` arguments into a storage object; may print notes (targetcli's
   * "X exists, using its size (N bytes) instead").
   */
  toCreate(args: Record<string, string | undefined>, note: (line: string) => void): CreateStorageObjectInput;
  /** The `ls` summary without the trailing status word. */
  summary(so: StorageObjectConfig, live: { sizeBytes?: number; writeBack?: boolean } | undefined): string;
  /** Which parameters complete as file paths. */
  fileParams?: string[];
}

function common(args: Record<string, string | undefined>): Pick<CreateStorageObjectInput, "name" | "wwn"> {
  return { name: args.name!, wwn: args.wwn };
}

function size(so: StorageObjectConfig, live: { sizeBytes?: number } | undefined): string {
  return formatSize(live?.sizeBytes ?? so.size ?? 0);
}

export const BACKSTORE_KINDS: BackstoreKind[] = [
  {
    dir: "block",
    plugin: "block",
    createParams: [{ name: "name" }, { name: "dev" }, { name: "readonly", default: "None" }, { name: "wwn", default: "None" }, { name: "exclusive", default: "true" }],
    createHelp: "Creates a Block Storage Object. dev is the path to the TYPE_DISK block device to use.",
    fileParams: ["dev"],
    toCreate(args) {
      return { ...common(args), plugin: "block", dev: args.dev, readonly: args.readonly ? parseBool(args.readonly, "readonly") : false };
    },
    summary(so, live) {
      return `${so.dev} (${size(so, live)}) ${so.readonly ? "ro " : ""}${(live?.writeBack ?? so.writeBack) ? "write-back" : "write-thru"}`;
    },
  },
  {
    dir: "fileio",
    plugin: "fileio",
    createParams: [
      { name: "name" },
      { name: "file_or_dev" },
      { name: "size", default: "None" },
      { name: "write_back", default: "true" },
      { name: "sparse", default: "true" },
      { name: "wwn", default: "None" },
      { name: "overcommit", default: "false" },
    ],
    createHelp:
      "Creates a FileIO storage object. If file_or_dev is a path to a regular file to be used as backend, then the size parameter is mandatory. Sizes like 64M or 1G are 1024-based. " +
      "Portico refuses system directories, its own data and code directories, paths outside the storage roots and a file that already backs another storage object (docs/configuration.md). " +
      "overcommit=true (a Portico extension) accepts a sparse file larger than its file system's free space.",
    fileParams: ["file_or_dev"],
    toCreate(args, note) {
      const file = path.resolve(args.file_or_dev!);
      let bytes = args.size !== undefined ? parseSize(args.size) : undefined;
      const st = fs.statSync(file, { throwIfNoEntry: false });
      if (st?.isFile()) {
        if (bytes !== undefined && bytes !== st.size) note(`${file} exists, using its size (${st.size} bytes) instead`);
        bytes = st.size;
      } else if (!st && bytes === undefined) {
        throw new ShellError("Attempting to create file for new fileio backstore, need a size");
      }
      return {
        ...common(args),
        plugin: "fileio",
        dev: file,
        size: bytes,
        writeBack: parseBool(args.write_back!, "write_back"),
        sparse: parseBool(args.sparse!, "sparse"),
        overcommit: parseBool(args.overcommit ?? "false", "overcommit"),
      };
    },
    summary(so, live) {
      return `${so.dev} (${size(so, live)}) ${(live?.writeBack ?? so.writeBack) ? "write-back" : "write-thru"}`;
    },
  },
  {
    dir: "ramdisk",
    plugin: "ramdisk",
    createParams: [{ name: "name" }, { name: "size" }, { name: "nullio", default: "false" }, { name: "wwn", default: "None" }],
    createHelp: "Creates a RAM disk storage object. size is the size of the ramdisk (64M, 1G…).",
    toCreate(args) {
      if (parseBool(args.nullio!, "nullio")) throw new ShellError("nullio ramdisks are not supported by Portico: its ramdisk keeps the data written.");
      return { ...common(args), plugin: "ramdisk", size: parseSize(args.size!) };
    },
    summary(so, live) {
      return `(${size(so, live)})`;
    },
  },
  {
    // tcmu-runner's rbd handler as targetcli shows it; Portico serves the image through librbd itself.
    dir: "user:rbd",
    plugin: "rbd",
    createParams: [{ name: "name" }, { name: "size" }, { name: "cfgstring" }, { name: "wwn", default: "None" }, { name: "hw_max_sectors", default: "None" }, { name: "control", default: "None" }],
    createHelp:
      "Creates a Ceph RBD storage object. cfgstring is rbd/<pool>/<image>[;conf=<ceph.conf>][;id=<client id>][;osd_op_timeout=<seconds>]; the image must exist (rbd create). The LUN has the image's own size.",
    toCreate(args, note) {
      parseSize(args.size!);
      const cfg = args.cfgstring!;
      try {
        parseRbdConfig(cfg);
      } catch (err) {
        throw new ShellError((err as Error).message);
      }
      if (args.hw_max_sectors !== undefined || args.control !== undefined) note("hw_max_sectors and control are tcmu settings: ignored");
      return { ...common(args), plugin: "rbd", dev: cfg };
    },
    summary(so, live) {
      return `${so.dev} (${size(so, live)})`;
    },
  },
];

export function backstoreKind(dir: string): BackstoreKind | undefined {
  return BACKSTORE_KINDS.find((k) => k.dir === dir);
}

export function backstoreKindOf(plugin: string): BackstoreKind | undefined {
  return BACKSTORE_KINDS.find((k) => k.plugin === plugin);
}

/** Adds a backstore kind (a plugin module calls this at load time), kept in directory order. */
export function registerBackstoreKind(kind: BackstoreKind): void {
  const i = BACKSTORE_KINDS.findIndex((k) => k.dir === kind.dir);
  if (i >= 0) BACKSTORE_KINDS[i] = kind;
  else BACKSTORE_KINDS.push(kind);
  BACKSTORE_KINDS.sort((a, b) => (a.dir < b.dir ? -1 : 1));
}
