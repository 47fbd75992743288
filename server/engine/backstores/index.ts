/**
 * openBackstore: validates a BackstoreSpec and opens a ramdisk, fileio or block
 * backstore. Every refusal is an Error whose message an admin can act on.
 */
import fs from "node:fs";
import path from "node:path";
import type { Backstore, BackstoreSpec, OpenBackstore } from "./backstore";
import { FdBackstore, blockDeviceSize, roundDown } from "./fd";
import { RamdiskBackstore } from "./ramdisk";
import { RbdBackstore } from "./rbd";

export type { Backstore, BackstoreSpec, OpenBackstore } from "./backstore";
export { RamdiskBackstore } from "./ramdisk";
export { FdBackstore, blockDeviceSize } from "./fd";
export { nativeAddon, nativeAddonStatus } from "./native";
export { RbdBackstore, rbdAvailable, rbdStatus } from "./rbd";

function checkBlockSize(spec: BackstoreSpec): number {
  const bs = spec.blockSize ?? 512;
  if (bs !== 512 && bs !== 4096) throw new Error(`block size ${bs} is not supported: use 512 or 4096`);
  return bs;
}

function checkSize(spec: BackstoreSpec, bs: number): number | undefined {
  if (spec.size === undefined) return undefined;
  if (!Number.isSafeInteger(spec.size) || spec.size < 0) throw new Error(`size ${spec.size} is not a valid byte count`);
  const size = roundDown(spec.size, bs);
  if (size < bs) throw new Error(`size ${spec.size} is smaller than one ${bs}-byte block`);
  return size;
}

function openFd(file: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, flags, 0o600, (err, fd) => (err ? reject(err) : resolve(fd))));
}

async function openRamdisk(spec: BackstoreSpec, bs: number): Promise<Backstore> {
  const size = checkSize(spec, bs);
  if (size === undefined) throw new Error(`ramdisk ${spec.name} needs a size`);
  return new RamdiskBackstore(bs, size);
}

async function openFileio(spec: BackstoreSpec, bs: number): Promise<Backstore> {
  if (!spec.dev) throw new Error(`fileio ${spec.name} needs a file path (dev)`);
  const file = path.resolve(spec.dev);
  const size = checkSize(spec, bs);
  const dir = path.dirname(file);
  const dirStat = await fs.promises.stat(dir).catch(() => undefined);
  if (!dirStat) throw new Error(`directory ${dir} does not exist`);
  if (!dirStat.isDirectory()) throw new Error(`${dir} is not a directory`);
  const st = await fs.promises.stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw new Error(`cannot access ${file}: ${err.message}`);
  });
  if (st?.isDirectory()) throw new Error(`${file} is a directory, not a file`);
  if (st?.isBlockDevice()) throw new Error(`${file} is a block device: use the block backstore for it`);
  if (st && !st.isFile()) throw new Error(`${file} is not a regular file`);
  if (!st && size === undefined) throw new Error(`file ${file} does not exist: give a size to create it`);
  const writeBack = spec.writeBack ?? false;
  // Write-through: O_DSYNC makes each write stable on return (SBC-4 §4.15).
  // O_NOFOLLOW: the engine passes the resolved real path (backstores/path-policy.ts), so a symlink
  // swapped in since the check is refused; O_EXCL: a new file is ours, and ours to remove on failure.
  const flags =
    fs.constants.O_RDWR | fs.constants.O_NOFOLLOW | (st ? 0 : fs.constants.O_CREAT | fs.constants.O_EXCL) | (writeBack ? 0 : fs.constants.O_DSYNC);
  let fd: number;
  try {
    fd = await openFd(file, flags);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ELOOP") throw new Error(`${file} is a symbolic link: give the path of the file itself`);
    if (e.code === "EEXIST") throw new Error(`${file} appeared while it was being created: try again`);
    throw new Error(`cannot open ${file}: ${e.message}`);
  }
  const created = !st;
  try {
    const opened = await new Promise<fs.Stats>((resolve, reject) => fs.fstat(fd, (e, s) => (e ? reject(e) : resolve(s))));
    if (!opened.isFile()) throw new Error(`${file} is not a regular file`);
    const current = opened.size;
    let capacity = current;
    if (size !== undefined && size > current) {
      if (spec.sparse === false) {
        await new Promise<void>((resolve, reject) =>
          fs.ftruncate(fd, size, (e) => (e ? reject(e) : resolve())),
        );
        await preallocate(fd, current, size);
      } else {
        // Sparse: ftruncate allocates nothing; blocks appear as they are written.
        await new Promise<void>((resolve, reject) => fs.ftruncate(fd, size, (e) => (e ? reject(e) : resolve())));
      }
      capacity = size;
    } else if (size !== undefined) {
      // The file is at least as large: use the requested size (LIO fd_dev_size), never shrink the file.
      capacity = size;
    }
    capacity = roundDown(capacity, bs);
    if (capacity < bs) throw new Error(`file ${file} is smaller than one ${bs}-byte block: give a size`);
    return new FdBackstore("fileio", fd, file, bs, capacity, writeBack, false);
  } catch (err) {
    await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
    // A create that fails leaves no file behind (an empty or half-allocated file would stay otherwise).
    if (created) await fs.promises.rm(file, { force: true }).catch(() => undefined);
    throw err instanceof Error ? err : new Error(String(err));
  }
}

/** Fills [from, to) with zeros so a non-sparse file owns its blocks up front. */
async function preallocate(fd: number, from: number, to: number): Promise<void> {
  const chunk = Buffer.alloc(1 << 20);
  for (let pos = from; pos < to; pos += chunk.length) {
    const n = Math.min(chunk.length, to - pos);
    await new Promise<void>((resolve, reject) => fs.write(fd, chunk, 0, n, pos, (e) => (e ? reject(e) : resolve())));
  }
  await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
}

async function openBlock(spec: BackstoreSpec, bs: number): Promise<Backstore> {
  if (!spec.dev) throw new Error(`block ${spec.name} needs a device path (dev)`);
  let real: string;
  try {
    // /dev/mapper/x and /dev/disk/by-id/... are symlinks to /dev/dm-N, /dev/sdX.
    real = await fs.promises.realpath(spec.dev);
  } catch {
    throw new Error(`block device ${spec.dev} does not exist`);
  }
  const st = await fs.promises.stat(real);
  if (!st.isBlockDevice()) {
    throw new Error(`${spec.dev} is not a block device${st.isFile() ? ": use the fileio backstore for a regular file" : ""}`);
  }
  const deviceBytes = await blockDeviceSize(real);
  const readonly = spec.readonly ?? false;
  const writeBack = spec.writeBack ?? false;
  const flags = readonly ? fs.constants.O_RDONLY : fs.constants.O_RDWR | (writeBack ? 0 : fs.constants.O_DSYNC);
  let fd: number;
  try {
    // O_EXCL on a block device: refuse one that is mounted or held by another exclusive opener (LIO's exclusive=true).
    fd = await openFd(real, flags | fs.constants.O_EXCL);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(e.code === "EBUSY" ? `block device ${spec.dev} is in use (mounted or held by another program)` : `cannot open ${spec.dev}: ${e.message}`);
  }
  let capacity = roundDown(deviceBytes, bs);
  if (spec.size !== undefined) capacity = Math.min(capacity, roundDown(spec.size, bs));
  if (capacity < bs) {
    fs.close(fd, () => undefined);
    throw new Error(`block device ${spec.dev} is smaller than one ${bs}-byte block`);
  }
  return new FdBackstore("block", fd, real, bs, capacity, writeBack, readonly);
}

export const openBackstore: OpenBackstore = async (spec) => {
  const bs = checkBlockSize(spec);
  switch (spec.plugin) {
    case "ramdisk":
      return openRamdisk(spec, bs);
    case "fileio":
      return openFileio(spec, bs);
    case "block":
      return openBlock(spec, bs);
    case "rbd":
      if (!spec.dev) throw new Error(`rbd ${spec.name} needs a config string: rbd/<pool>/<image>[;conf=<path>][;id=<client id>][;osd_op_timeout=<s>]`);
      // The image must exist (as with tcmu-runner): restoring never re-creates a lost image empty.
      // Its size is Ceph's; a new image is made explicitly first (createRbdImage, the console, `rbd create`).
      return RbdBackstore.open(spec.name, spec.dev, bs);
    default:
      throw new Error(`unknown backstore plugin "${(spec as { plugin: string }).plugin}"`);
  }
};
