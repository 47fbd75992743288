/**
 * Where a fileio storage object may keep its file. The appliance runs as root and
 * opens a fileio file read-write for any initiator the TPG lets in, so a path that
 * names a system file (/etc/shadow), a kernel interface (/proc/self/environ), the
 * appliance's own database or another storage object's file would hand it to the LAN.
 *
 * Refused, after resolving real paths (symlinks and `..`, as open(2) would):
 *   - anything under /proc, /sys, /dev (a block device goes through the block backstore),
 *     /etc, /boot, /usr, /bin, /sbin, /lib* ("system directory");
 *   - anything inside the data directory (portico.db, history.db, the lock, runtime,
 *     setup-code, TLS and backup files) and inside the application's directory, except its
 *     storage directory ("appliance's own files");
 *   - outside the storage roots, when any are set ("storage roots");
 *   - anything that is not a regular file, and a symlink whose target is missing (O_CREAT
 *     would create the file wherever it points);
 *   - a file that already backs another storage object ("one file, one storage object").
 *
 * `refusal` is pure (tested on its own); `resolveFileioPath` adds the file system.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Top-level system directories a fileio file may never be in (plus every /lib*). */
export const SYSTEM_DIRS = ["/proc", "/sys", "/dev", "/etc", "/boot", "/usr", "/bin", "/sbin"] as const;

/** The application's own directory (the package root): three levels up from server/engine/backstores. */
export const defaultAppDir = (() => {
  try {
    return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
  } catch {
    return undefined;
  }
})();

export interface FileioPolicyOptions {
  /** The appliance's data directory: refused whole. */
  dataDir?: string;
  /** The application's code (the package root): refused whole, except `storageDir` if it lies inside. Default: this package's root. */
  appDir?: string;
  /** Where new files go by default (`<storageDir>/<name>.img`); see defaultStorageDir. */
  storageDir?: string;
  /** When set and not empty, fileio files must be inside one of these directories. */
  storageRoots?: string[];
}

/** A file already in use by a storage object. */
export interface FileInUse {
  /** `fileio/<name>` */
  key: string;
  /** The path the object was created with. */
  dev?: string;
  /** Its resolved real path. */
  realPath: string;
  /** st_dev/st_ino, so a hard link to the same file is recognised too. */
  devIno?: string;
}

/**
 * `<data directory>-storage` (./data → ./data-storage): next to the data, never inside it,
 * and one per data directory (two appliances on one machine never share default file names).
 */
export function defaultStorageDir(dataDir: string): string {
  return `${path.resolve(dataDir)}-storage`;
}

/** True when `p` is `dir` or inside it (both absolute and normalized). */
export function isInside(p: string, dir: string): boolean {
  if (dir === "/") return true;
  return p === dir || p.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}

/** The system directory `p` lies in, or undefined. */
export function systemDirOf(p: string): string | undefined {
  for (const d of SYSTEM_DIRS) if (isInside(p, d)) return d;
  const top = p.split("/")[1] ?? "";
  if (top.startsWith("lib")) return `/${top}`;
  return undefined;
}

/**
 * Why `p` (absolute, normalized, symlinks already resolved) may not back a fileio object,
 * naming the rule, or undefined when it may. Pure: the directories in `policy` must be real paths too.
 */
export function refusal(p: string, policy: FileioPolicyOptions): string | undefined {
  const sys = systemDirOf(p);
  if (sys) {
    return sys === "/dev"
      ? `${p} is under /dev: fileio needs a regular file (rule: no system directories); a block device goes through the block backstore`
      : `${p} is under ${sys}, a system directory (rule: fileio never uses /proc, /sys, /dev, /etc, /boot, /usr, /bin, /sbin or /lib*)`;
  }
  if (policy.dataDir && isInside(p, policy.dataDir)) {
    return `${p} is inside the appliance's data directory ${policy.dataDir} (rule: never the appliance's own files — its databases, lock, runtime, setup-code, TLS and backup files live there)${policy.storageDir ? `: put storage files in ${policy.storageDir} or another directory` : ""}`;
  }
  if (policy.appDir && isInside(p, policy.appDir) && !(policy.storageDir && isInside(p, policy.storageDir))) {
    return `${p} is inside the application's directory ${policy.appDir} (rule: never the appliance's own code)${policy.storageDir && isInside(policy.storageDir, policy.appDir) ? `: only its storage directory ${policy.storageDir} may hold storage files` : ""}`;
  }
  const roots = policy.storageRoots ?? [];
  if (roots.length && !roots.some((r) => isInside(p, r))) {
    return `${p} is outside the storage roots ${roots.join(", ")} (rule: with storage roots set, fileio files must be inside one of them)`;
  }
  return undefined;
}

/** A policy whose directories are real paths (a data directory reached through a symlink is still the data directory). */
export async function realPolicy(policy: FileioPolicyOptions): Promise<FileioPolicyOptions> {
  const real = async (d: string | undefined) => (d === undefined ? undefined : fs.promises.realpath(d).catch(() => path.resolve(d)));
  return {
    dataDir: await real(policy.dataDir),
    appDir: await real(policy.appDir ?? defaultAppDir),
    storageDir: await real(policy.storageDir),
    storageRoots: policy.storageRoots ? await Promise.all(policy.storageRoots.map((r) => real(r) as Promise<string>)) : undefined,
  };
}

export interface ResolvedFile {
  /** The real path to open (no symlinks, no `..`). */
  realPath: string;
  /** The file exists (and is a regular file). */
  exists: boolean;
  /** Its size in bytes when it exists. */
  size: number;
  devIno?: string;
}

/** An Error whose message says why a path is refused; `inUse` marks "one file, one storage object". */
export class PathRefusedError extends Error {
  constructor(
    message: string,
    readonly inUse = false,
  ) {
    super(message);
    this.name = "PathRefusedError";
  }
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Resolves `dev` as open(2) would and checks it against the policy and the files in use.
 * Throws PathRefusedError (refused by a rule) or Error (missing directory, unreadable...).
 */
export async function resolveFileioPath(dev: string, policy: FileioPolicyOptions, inUse: FileInUse[] = []): Promise<ResolvedFile> {
  // Not path.resolve: it folds `..` lexically, while the kernel applies `..` after following symlinks.
  const given = path.isAbsolute(dev) ? dev : `${process.cwd()}/${dev}`;
  const lexical = path.resolve(given);
  const pol = await realPolicy(policy);
  // The lexical form is checked too: `/etc/x -> /srv/y` is still a path under /etc.
  const lexicalRefusal = refusal(lexical, pol);
  if (lexicalRefusal) throw new PathRefusedError(lexicalRefusal);

  let realPath: string;
  let st: fs.Stats | undefined;
  const lst = await fs.promises.lstat(given).catch((err: unknown) => {
    if (errnoOf(err) === "ENOENT") return undefined;
    if (errnoOf(err) === "ENOTDIR") throw new Error(`${path.dirname(lexical)} is not a directory`);
    throw new Error(`cannot access ${lexical}: ${(err as Error).message}`);
  });
  if (lst) {
    try {
      realPath = await fs.promises.realpath(given);
    } catch (err) {
      if (lst.isSymbolicLink() && errnoOf(err) === "ENOENT") {
        const target = await fs.promises.readlink(given).catch(() => "?");
        throw new PathRefusedError(`${lexical} is a symbolic link to a missing file (${target}): refused, a new file would be created wherever it points`);
      }
      throw new Error(`cannot resolve ${lexical}: ${(err as Error).message}`);
    }
    st = await fs.promises.stat(realPath);
  } else {
    const dir = path.dirname(given);
    let realDir: string;
    try {
      realDir = await fs.promises.realpath(dir);
    } catch {
      throw new Error(`directory ${path.dirname(lexical)} does not exist`);
    }
    const dst = await fs.promises.stat(realDir);
    if (!dst.isDirectory()) throw new Error(`${path.dirname(lexical)} is not a directory`);
    realPath = path.join(realDir, path.basename(given));
  }
  const via = realPath === lexical ? "" : ` (${lexical} resolves to ${realPath})`;
  const realRefusal = refusal(realPath, pol);
  if (realRefusal) throw new PathRefusedError(`${realRefusal}${via}`);
  if (st) {
    if (st.isDirectory()) throw new PathRefusedError(`${lexical} is a directory, not a file${via}`);
    if (st.isBlockDevice()) throw new PathRefusedError(`${lexical} is a block device: use the block backstore for it${via}`);
    if (!st.isFile()) throw new PathRefusedError(`${lexical} is not a regular file (rule: fileio backs onto regular files only)${via}`);
  }
  const devIno = st ? `${st.dev}:${st.ino}` : undefined;
  const other = inUse.find((u) => u.realPath === realPath || (devIno !== undefined && u.devIno === devIno));
  if (other) {
    throw new PathRefusedError(
      `${lexical} already backs storage object ${other.key}${other.dev && other.dev !== lexical ? ` (as ${other.dev})` : ""}${via} (rule: one file, one storage object — two objects on one file would corrupt each other's data)`,
      true,
    );
  }
  return { realPath, exists: st !== undefined, size: st?.size ?? 0, devIno };
}

/** Bytes an unprivileged writer may still allocate on the file system holding `dir` (statfs f_bavail). */
export async function freeBytes(dir: string): Promise<number> {
  const s = await fs.promises.statfs(dir);
  return s.bavail * s.bsize;
}

/** Bytes in binary units for messages: "8 TiB", "77.8 GiB". */
export function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** `dev:ino` of an open file, to recognise hard links to it. */
export function devInoOf(st: fs.Stats): string {
  return `${st.dev}:${st.ino}`;
}
