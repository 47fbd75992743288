/**
 * Facts about this machine the console offers as choices: its name, its addresses
 * (for portals), its block devices (for the block backstore) and free space where a
 * backing file would go. Read-only; nothing here changes the machine.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export function hostname(): string {
  return os.hostname().split(".")[0] || "portico";
}

/** targetcli's prefix for generated target names: `iqn.2003-01.org.linux-iscsi.<host>.<machine>` (rtslib generate_wwn). */
export function defaultIqnPrefix(): string {
  const host = hostname().replace(/_/g, "").toLowerCase().replace(/[^a-z0-9.-]/g, "") || "portico";
  const machine = os.machine().replace(/_/g, "").toLowerCase();
  return `iqn.2003-01.org.linux-iscsi.${host}.${machine}`;
}

export interface HostAddress {
  address: string;
  family: "IPv4" | "IPv6";
  interface: string;
  internal: boolean;
}

/** Every address of every interface, then the wildcards (all IPv4 / all addresses), as targetcli offers them. */
export function addresses(): HostAddress[] {
  const out: HostAddress[] = [];
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    for (const a of list ?? []) {
      // Link-local IPv6 needs a scope id an initiator cannot type into a portal; leave them out.
      if (a.family === "IPv6" && a.address.toLowerCase().startsWith("fe80")) continue;
      out.push({ address: a.address, family: a.family === "IPv6" ? "IPv6" : "IPv4", interface: name, internal: a.internal });
    }
  }
  out.sort((x, y) => Number(x.internal) - Number(y.internal) || x.family.localeCompare(y.family));
  out.push({ address: "0.0.0.0", family: "IPv4", interface: "all IPv4 addresses", internal: false });
  out.push({ address: "::0", family: "IPv6", interface: "all addresses (IPv6 and IPv4)", internal: false });
  return out;
}

export interface BlockDevice {
  name: string;
  path: string;
  size: number;
  type: "disk" | "partition" | "loop" | "other";
  readonly: boolean;
  removable: boolean;
  model: string | null;
  /** Mount points of the device or of its partitions: exporting it would corrupt a mounted filesystem. */
  mounts: string[];
  holders: string[];
}

function readSys(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** /sys/class/block, with size (sectors × 512), and what holds or mounts each device. */
export function blockDevices(): BlockDevice[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync("/sys/class/block");
  } catch {
    return [];
  }
  let mountsText = "";
  try {
    mountsText = fs.readFileSync("/proc/self/mounts", "utf8");
  } catch {
    /* no /proc */
  }
  const mounts = mountsText
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[0]?.startsWith("/dev/"))
    .map((f) => ({ dev: path.basename(f[0]), at: f[1] }));
  const out: BlockDevice[] = [];
  for (const name of names.sort()) {
    const sys = path.join("/sys/class/block", name);
    const size = Number(readSys(path.join(sys, "size")) ?? 0) * 512;
    // An unattached loop device or an empty drive has size 0: nothing to export.
    if (!size) continue;
    const isPartition = fs.existsSync(path.join(sys, "partition"));
    const type = isPartition ? "partition" : name.startsWith("loop") ? "loop" : /^(sd|vd|xvd|nvme\d+n\d+$|hd|mmcblk\d+$|md|dm-)/.test(name) ? "disk" : "other";
    let children: string[] = [];
    try {
      children = fs.readdirSync(sys).filter((c) => c.startsWith(name));
    } catch {
      /* ignore */
    }
    let holders: string[] = [];
    try {
      holders = fs.readdirSync(path.join(sys, "holders"));
    } catch {
      /* ignore */
    }
    out.push({
      name,
      path: `/dev/${name}`,
      size,
      type,
      readonly: readSys(path.join(sys, "ro")) === "1",
      removable: readSys(path.join(sys, "removable")) === "1",
      model: readSys(path.join(sys, "device", "model")) ?? null,
      mounts: mounts.filter((m) => m.dev === name || children.includes(m.dev)).map((m) => m.at),
      holders,
    });
  }
  return out;
}

export interface BackingCheck {
  path: string;
  exists: boolean;
  isFile: boolean;
  isBlockDevice: boolean;
  /** Current size of an existing file or device. */
  size: number | null;
  dirExists: boolean;
  /** Bytes available to us in the directory's filesystem. */
  free: number | null;
}

export function checkBacking(p: string): BackingCheck {
  const abs = path.resolve(p);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(abs);
  } catch {
    /* missing */
  }
  const dir = path.dirname(abs);
  let dirExists = false;
  try {
    dirExists = fs.statSync(dir).isDirectory();
  } catch {
    /* missing */
  }
  let free: number | null = null;
  if (dirExists) {
    try {
      const s = fs.statfsSync(dir);
      free = s.bavail * s.bsize;
    } catch {
      /* unknown */
    }
  }
  let size: number | null = st?.isFile() ? st.size : null;
  if (st?.isBlockDevice()) {
    const dev = blockDevices().find((d) => d.path === abs);
    size = dev?.size ?? null;
  }
  return { path: abs, exists: Boolean(st), isFile: Boolean(st?.isFile()), isBlockDevice: Boolean(st?.isBlockDevice()), size, dirExists, free };
}

/** The reason a fileio backing (path + optional size) cannot be made, or undefined. Field names match the storage form. */
export function fileioProblem(dev: string, size: number | undefined): { field: "dev" | "size"; message: string } | undefined {
  const c = checkBacking(dev);
  if (c.exists && !c.isFile) return { field: "dev", message: `${c.path} exists and is not a regular file` };
  if (c.exists) return undefined;
  if (!c.dirExists) return { field: "dev", message: `directory ${path.dirname(c.path)} does not exist` };
  // No size means "use the existing file": the path is what is wrong.
  if (size === undefined) return { field: "dev", message: `${c.path} does not exist: pick an existing file, or create a new one with a size` };
  // A size beyond the free space is the engine's over-commit check (a sparse file may be over-committed once confirmed).
  return undefined;
}

export function blockProblem(dev: string): { field: "dev"; message: string } | undefined {
  const c = checkBacking(dev);
  if (!c.exists) return { field: "dev", message: `block device ${c.path} does not exist` };
  if (!c.isBlockDevice) return { field: "dev", message: `${c.path} is not a block device (use a file for files)` };
  const d = blockDevices().find((b) => b.path === c.path);
  if (d?.mounts.length) return { field: "dev", message: `${c.path} is mounted at ${d.mounts.join(", ")}: exporting it would corrupt that filesystem` };
  return undefined;
}
