/**
 * The rbd backstore: a Ceph RBD image through librbd, in this process (native/portico_rbd.c),
 * no kernel module and no NBD hop. LIO reaches the same images through tcmu-runner's
 * `user:rbd` handler; the storage object's `dev` is that handler's config string
 * (`rbd/<pool>/<image>[;conf=..][;id=..][;osd_op_timeout=..]`, backstores/rbd-config.ts).
 *
 * - Data: rbd_aio_read/write/discard/writesame/compare_and_write/flush, completed on the
 *   event loop. FUA and SYNCHRONIZE CACHE: librbd's cache is write-back once the first flush
 *   arrives (rbd_cache_writethrough_until_flush), so WCE=1 and FUA is write + flush.
 * - One cluster connection (rados_t) per (ceph.conf, client id, osd_op_timeout), shared.
 * - Faults: monitors unreachable → an error naming them within client_mount_timeout (10 s);
 *   an OSD that stops answering → ETIMEDOUT after osd_op_timeout, reported as NOT READY,
 *   ASYMMETRIC ACCESS STATE TRANSITION (04h/0Ah), which initiators retry (tcmu-runner does
 *   the same); image removed or this client blocklisted → the object goes offline (`offline`).
 * - Capacity: librbd's header watch tells us when the image was resized behind our back;
 *   the SCSI layer then raises CAPACITY DATA HAS CHANGED (2Ah/09h) on every nexus.
 */
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Asc, SenseError, SenseKey } from "../scsi/sense";
import { rbdUnmapAttributes } from "../core/defaults";
import { readBuffers } from "../core/buffer-pool";
import type { Backstore, ForwardedIo } from "./backstore";
import { parseRbdConfig, type RbdConfig } from "./rbd-config";

/** Opaque handles from the addon. */
type ClusterHandle = { readonly __cluster: unique symbol };
type ImageHandle = { readonly __image: unique symbol };

export interface RbdImageStat {
  size: number;
  features: number;
  objectSize: number;
  lockOwners: string[];
  used?: number;
}

export interface RbdPoolsStat {
  pools: { name: string; usedBytes: number; objects: number }[];
  clusterKb: number;
  clusterKbUsed: number;
  clusterKbAvail: number;
}

interface RbdAddon {
  /** onDone(count, bufs): bufs[i] is ring entry i's Buffer when that entry is a READ_BL read that succeeded. */
  setup(onDone: (count: number, bufs: (Buffer | undefined)[] | undefined) => void, ring: Float64Array): void;
  /** 0 when queued (onDone reports it), or -errno when not. */
  submit(image: ImageHandle, op: number, offset: number, length: number, slot: number, buf1?: Buffer, buf2?: Buffer, fua?: number): number;
  errorOf(op: number, errno: number): Error;
  /** Detaches a READ_BL read's Buffer: librbd's buffer under it is freed now; it reads as empty after. */
  releaseRead(buf: Buffer): void;
  /** Whether READ_BL is built (librados' C++ headers were there), and how many such reads needed a copy to be contiguous. */
  stats(): { readsIntoLibrbdBuffers: boolean; blReads: number; blRebuilt: number; submitsInline?: number; submitsThread?: number; turnDrained?: number };
  connect(conf: string, id: string, options: [string, string][]): Promise<ClusterHandle>;
  shutdown(cluster: ClusterHandle): Promise<void>;
  open(cluster: ClusterHandle, pool: string, image: string): Promise<ImageHandle>;
  close(image: ImageHandle): Promise<void>;
  stat(image: ImageHandle, withUsed: boolean): Promise<RbdImageStat>;
  resize(image: ImageHandle, size: number): Promise<void>;
  extents(image: ImageHandle, offset: number, length: number): Promise<{ offset: number; length: number; exists: boolean }[]>;
  pools(cluster: ClusterHandle): Promise<RbdPoolsStat>;
  images(cluster: ClusterHandle, pool: string): Promise<string[]>;
  create(cluster: ClusterHandle, pool: string, image: string, size: number, features: number): Promise<void>;
  remove(cluster: ClusterHandle, pool: string, image: string): Promise<void>;
  monCommand(cluster: ClusterHandle, json: string): Promise<string>;
  watch(image: ImageHandle, onChange: () => void): void;
  lockAcquire(image: ImageHandle): Promise<void>;
  lockRelease(image: ImageHandle): Promise<void>;
  lockOwners(image: ImageHandle): Promise<{ mode: "exclusive" | "shared" | null; owners: string[] }>;
  lockBreak(image: ImageHandle, owner: string): Promise<void>;
  isLockOwner(image: ImageHandle): Promise<boolean>;
  blocklistAdd(cluster: ClusterHandle, address: string, expireSeconds: number): Promise<void>;
  clientAddress(cluster: ClusterHandle): Promise<string>;
}

const Op = { READ: 0, WRITE: 1, FLUSH: 2, DISCARD: 3, WRITESAME: 4, CAW: 5, ZEROES: 6, READ_BL: 7 } as const;

/** RBD image feature bits (librbd/features.h), for the console's detail view. */
export const RBD_FEATURES: Record<string, number> = {
  layering: 1,
  striping: 2,
  "exclusive-lock": 4,
  "object-map": 8,
  "fast-diff": 16,
  "deep-flatten": 32,
  journaling: 64,
  "data-pool": 128,
  operations: 256,
  migrating: 512,
  "non-primary": 1024,
};

export function featureNames(bits: number): string[] {
  return Object.entries(RBD_FEATURES)
    .filter(([, bit]) => (bits & bit) !== 0)
    .map(([name]) => name);
}

function loadAddon(): { addon?: RbdAddon; reason: string } {
  const req = createRequire(import.meta.url);
  const files: string[] = [];
  if (process.env.PORTICO_RBD_NATIVE) files.push(process.env.PORTICO_RBD_NATIVE);
  try {
    files.push(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../native/build/Release/portico_rbd.node"));
  } catch {
    // bundled: cwd below
  }
  files.push(path.resolve(process.cwd(), "native/build/Release/portico_rbd.node"));
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    try {
      return { addon: req(file) as RbdAddon, reason: "available" };
    } catch (err) {
      return { reason: `cannot load ${file}: ${(err as Error).message}` };
    }
  }
  if (!fs.existsSync("/usr/include/rbd/librbd.h")) return { reason: "librbd is not installed (Debian packages librbd-dev and librados-dev; npm start installs them as root)" };
  return { reason: "native/build/Release/portico_rbd.node is not built (run native/build.sh)" };
}

const loaded = loadAddon();
const addon = loaded.addon;

/** "available", or why the rbd backstore cannot be used here. */
export const rbdStatus: string = loaded.reason;
export const rbdAvailable = (): boolean => addon !== undefined;

/** The addon's counters (reads into librbd's buffers, submissions from the loop / the submitter thread), for tests and benches. */
export function rbdAddonStats(): ReturnType<RbdAddon["stats"]> | undefined {
  return typeof addon?.stats === "function" ? addon.stats() : undefined;
}

function needAddon(): RbdAddon {
  if (!addon) throw new Error(`rbd backstore unavailable: ${rbdStatus}`);
  return addon;
}

// ---- cluster connections: one per (conf, client id, osd_op_timeout) ------------------

/** Seconds to wait for the monitors before a clear error (the bound is 15 s). */
const MON_TIMEOUT_S = 10;

interface ClusterEntry {
  key: string;
  conf: string;
  id: string;
  handle: Promise<ClusterHandle>;
  refs: number;
}

const clusters = new Map<string, ClusterEntry>();

/** The options every cluster connection is made with (rados_conf_set after ceph.conf). */
export function clusterOptions(osdOpTimeout: number): [string, string][] {
  return [
    ["client_mount_timeout", String(MON_TIMEOUT_S)],
    ["rados_mon_op_timeout", String(MON_TIMEOUT_S)],
    ["rados_osd_op_timeout", String(osdOpTimeout)],
    // Partial-object discards must zero the range: UNMAP'd blocks read back as zeros (LBPRZ).
    ["rbd_skip_partial_discard", "false"],
    // librbd does its submission work inline on the calling thread instead of waking its
    // io_context thread: the addon's submitter thread, or the event loop for reads while few
    // requests are in librbd (native/portico_rbd.c, submit_inline_ok).
    ["rbd_non_blocking_aio", "false"],
    // The Objecter's op budget is the one place a submission can wait (op_submit blocks for
    // room); an inline read must never wait on the event loop. Besides the addon's own requests
    // (at most 256 in flight when it submits inline), librbd's write-around cache keeps up to
    // rbd_cache_max_dirty (24 MiB) of acknowledged writes in flight, as many as 49,152 ops of
    // 512 bytes against the default budget of 1024 ops: this makes room for them. Bytes stay
    // under the default 100 MiB (16 MiB inline gate + 24 MiB).
    ["objecter_inflight_ops", "65536"],
    // Ask librbd to reference a write's data (the Data-Out buffer, complete and never changed
    // while the write is in flight) instead of copying it. librbd honours this only with its
    // cache off: the write-around cache (rbd_cache, on by default) acknowledges writes before
    // the OSD has them, so it sets disable_zero_copy on every image it serves
    // (WriteAroundObjectDispatch::init) and each write's data is copied on the submitting
    // thread: ~170 µs of the addon's submitter thread per 1 MiB write (docs/performance.md, rbd,
    // "2026-12-03 (evening), 1 MiB writes"). PORTICO_RBD_ZERO_COPY_WRITES=0: copy even then.
    ["rbd_disable_zero_copy_writes", process.env.PORTICO_RBD_ZERO_COPY_WRITES === "0" ? "true" : "false"],
    // For measuring (same subsection): PORTICO_RBD_CACHE=0 turns librbd's cache off, so writes
    // are zero-copy and acknowledged only once on the OSD (write-through; FUA and SYNCHRONIZE
    // CACHE hold trivially).
    ...(process.env.PORTICO_RBD_CACHE === "0" ? [["rbd_cache", "false"] as [string, string]] : []),
  ];
}

/** A shared connection; release it with releaseCluster. Rejects with an error naming the monitors. */
export function acquireCluster(conf: string, id: string, osdOpTimeout: number): { key: string; handle: Promise<ClusterHandle> } {
  const a = needAddon();
  const key = `${conf}\0${id}\0${osdOpTimeout}`;
  let e = clusters.get(key);
  if (!e) {
    const handle = (async () => {
      await fs.promises.access(conf, fs.constants.R_OK).catch(() => {
        throw new Error(`Ceph configuration ${conf} does not exist or is not readable`);
      });
      return a.connect(conf, id, clusterOptions(osdOpTimeout));
    })();
    e = { key, conf, id, handle, refs: 0 };
    clusters.set(key, e);
    // A failed connection is not kept: the next attempt connects afresh.
    handle.catch(() => {
      if (clusters.get(key) === e) clusters.delete(key);
    });
  }
  e.refs++;
  return { key, handle: e.handle };
}

export async function releaseCluster(key: string): Promise<void> {
  const e = clusters.get(key);
  if (!e) return;
  if (--e.refs > 0) return;
  clusters.delete(key);
  const h = await e.handle.catch(() => undefined);
  if (h) await needAddon().shutdown(h);
}

/** How many cluster connections are open (tests: one per conf+id, shared). */
export function rbdClusterCount(): number {
  return clusters.size;
}

/** Runs `fn` on a (shared) connection to the cluster of `conf`/`id`, releasing it afterwards. */
export async function withCluster<T>(conf: string, id: string, fn: (a: RbdAddon, c: ClusterHandle) => Promise<T>): Promise<T> {
  const { key, handle } = acquireCluster(conf, id, 30);
  try {
    return await fn(needAddon(), await handle);
  } finally {
    await releaseCluster(key);
  }
}

// ---- the data path's request table (native submit / onDone) -------------------------

const EBADF = 9;
const EILSEQ = 84;
/**
 * Requests in flight by slot, in parallel arrays (no object per IO): the owner, its op, its
 * promise's functions and its buffers (held here so they stay alive while librbd uses them).
 */
const slotOwner: (RbdBackstore | undefined)[] = [];
const slotOp: number[] = [];
const slotResolve: (((v: any) => void) | undefined)[] = [];
const slotReject: (((e: unknown) => void) | undefined)[] = [];
const slotBuf1: (Buffer | undefined)[] = [];
const slotBuf2: (Buffer | undefined)[] = [];
const freeSlots: number[] = [];
/** (slot, return value, mismatch) triples the addon writes before calling onDone(count). */
const ring = new Float64Array(3 * 1024);
let setUp = false;

function ensureSetup(a: RbdAddon): void {
  if (setUp) return;
  setUp = true;
  a.setup(onDone, ring);
}

/** Every request librbd finished since the last call, in one call from the event loop. */
function onDone(count: number, bufs: (Buffer | undefined)[] | undefined): void {
  for (let i = 0; i < count; i++) {
    const slot = ring[3 * i];
    const owner = slotOwner[slot]!;
    const resolve = slotResolve[slot]!, reject = slotReject[slot]!;
    const op = slotOp[slot];
    const b1 = op === Op.READ_BL ? bufs?.[i] : slotBuf1[slot];
    slotOwner[slot] = undefined;
    slotResolve[slot] = slotReject[slot] = undefined;
    slotBuf1[slot] = slotBuf2[slot] = undefined;
    freeSlots.push(slot);
    if (op === Op.READ_BL && b1) librbdReads.add(b1);
    try {
      owner.complete(op, ring[3 * i + 1], ring[3 * i + 2], resolve, reject, b1);
    } catch (err) {
      reject(err);
    }
  }
}

/**
 * Reads of at least this many bytes are read into librbd's own buffers (Op.READ_BL, when the
 * addon was built with librados' C++ headers): librbd then hands back the buffers the OSD's reply
 * arrived in instead of copying them into ours (a memcpy per byte, ~150 µs of a librbd thread per
 * 1 MiB read; docs/performance.md, rbd). Below it the copy is cheaper than an external Buffer.
 * PORTICO_RBD_BL_READ_MIN sets it (0 turns it off), for measuring.
 */
const BL_READ_MIN = (() => {
  const v = process.env.PORTICO_RBD_BL_READ_MIN;
  const n = v === undefined || v === "" ? 65536 : Number(v);
  // An addon built before READ_BL has no stats(): it reads into our buffers, as before.
  return Number.isFinite(n) && n > 0 && typeof addon?.stats === "function" && addon.stats().readsIntoLibrbdBuffers ? n : Infinity;
})();

/**
 * The Buffers of READ_BL reads not yet released: releaseRead detaches them instead of pooling.
 * Weak: one never released (an error path) is collected, and its finalizer frees librbd's buffer.
 */
const librbdReads = new WeakSet<Buffer>();

// ---- errors -----------------------------------------------------------------------

type RbdError = Error & { code?: string; errno?: number };

/** NOT READY, LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION: initiators retry it. */
const STATE_TRANSITION = [0x04, 0x0a] as const;

// ---- the backstore ----------------------------------------------------------------

export class RbdBackstore implements Backstore {
  readonly plugin = "rbd" as const;
  readonly writeBack = true;
  readonly reclaims = true;
  sizeBytes: number;
  /** Why the image cannot be used any more (removed, client blocklisted), or undefined while healthy. */
  offline: string | undefined;
  /** Last error seen from Ceph (timeouts included), for status; cleared by the next success. */
  lastError: string | undefined;
  private inflight = 0;
  private drained: (() => void) | undefined;
  private closed = false;

  private constructor(
    readonly name: string,
    readonly config: RbdConfig,
    readonly blockSize: number,
    private readonly image: ImageHandle,
    private readonly clusterKey: string,
    sizeBytes: number,
    readonly objectSize: number,
    readonly features: number,
  ) {
    this.sizeBytes = sizeBytes;
    this.attributeDefaults = rbdUnmapAttributes(objectSize, blockSize);
  }

  /** UNMAP limits in this image's objects (tcmu-runner's: 4 objects per UNMAP, granularity one object). */
  readonly attributeDefaults: Readonly<Record<string, number>>;

  /** Opens `rbd/<pool>/<image>` per the config string (tcmu-runner's form); the image must exist. */
  static async open(name: string, configText: string, blockSize: number): Promise<RbdBackstore> {
    const a = needAddon();
    const cfg = parseRbdConfig(configText);
    const { key, handle } = acquireCluster(cfg.conf, cfg.id, cfg.osdOpTimeout);
    try {
      const cluster = await handle;
      const image = await a.open(cluster, cfg.pool, cfg.image).catch((err: RbdError) => {
        if (err.code === "ENOENT") throw new Error(`image ${cfg.pool}/${cfg.image} does not exist (or pool ${cfg.pool} does not): create it first (rbd create, or the console)`);
        throw err;
      });
      const st = await a.stat(image, false);
      const size = st.size - (st.size % blockSize);
      if (size < blockSize) {
        await a.close(image);
        throw new Error(`image ${cfg.pool}/${cfg.image} is smaller than one ${blockSize}-byte block`);
      }
      const b = new RbdBackstore(name, cfg, blockSize, image, key, size, st.objectSize, st.features);
      a.watch(image, () => b.headerChanged());
      return b;
    } catch (err) {
      await releaseCluster(key);
      throw err;
    }
  }

  /** librbd saw the header change: re-read the size (resize behind our back) or notice the image is gone. */
  private headerChanged(): void {
    if (this.closed) return;
    needAddon()
      .stat(this.image, false)
      .then((st) => {
        const size = st.size - (st.size % this.blockSize);
        if (size >= this.blockSize) this.sizeBytes = size;
      })
      .catch((err: RbdError) => this.noteError(err));
  }

  private noteError(err: RbdError): void {
    this.lastErrorCode = err.code;
    if (err.code === "ENOENT") this.offline = `image ${this.config.pool}/${this.config.image} no longer exists`;
    else if (err.code === "EBLOCKLISTED") this.offline = `this client was blocklisted by the Ceph cluster (another gateway took the image's lock)`;
    this.lastError = err.message;
  }

  /** Maps a librbd failure to the SCSI answer (see the header comment). */
  private fail(err: RbdError): never {
    this.noteError(err);
    switch (err.code) {
      case "ETIMEDOUT":
        throw new SenseError(SenseKey.NOT_READY, STATE_TRANSITION);
      case "ENOENT":
      case "EBLOCKLISTED":
        throw new SenseError(SenseKey.NOT_READY, Asc.LUN_NOT_READY_MANUAL_INTERVENTION);
      case "EROFS":
        throw new SenseError(SenseKey.DATA_PROTECT, Asc.WRITE_PROTECTED);
      default:
        throw err;
    }
  }

  /**
   * Submits one request (native submit, completed through onDone). Resolves with the read
   * buffer (READ), -1 or the miscompare offset (CAW), else librbd's return value. No async
   * function, napi promise or reference per IO: one promise, and the slot table.
   */
  private io(op: number, offset: number, length: number, b1?: Buffer, b2?: Buffer): Promise<any> {
    if (this.closed) return Promise.reject(new Error(`rbd ${this.name} is closed`));
    if (this.offline) return Promise.reject(new SenseError(SenseKey.NOT_READY, Asc.LUN_NOT_READY_MANUAL_INTERVENTION));
    const a = needAddon();
    ensureSetup(a);
    return new Promise((resolve, reject) => {
      const slot = freeSlots.length ? freeSlots.pop()! : slotOwner.length;
      const rc = a.submit(this.image, op, offset, length, slot, b1, b2);
      if (rc < 0) {
        freeSlots.push(slot);
        reject(rc === -EBADF ? new Error(`rbd ${this.name} is closed`) : this.failure(op, -rc));
        return;
      }
      this.inflight++;
      slotOwner[slot] = this;
      slotOp[slot] = op;
      slotResolve[slot] = resolve;
      slotReject[slot] = reject;
      slotBuf1[slot] = b1;
      slotBuf2[slot] = b2;
    });
  }

  /** A request finished (onDone): settle its promise. */
  complete(op: number, ret: number, mismatch: number, resolve: (v: unknown) => void, reject: (e: unknown) => void, b1: Buffer | undefined): void {
    if (--this.inflight === 0 && this.drained) this.drained();
    if (ret >= 0) {
      this.lastError = undefined;
      resolve(op === Op.READ || op === Op.READ_BL ? b1 : op === Op.CAW ? -1 : ret);
    } else if (op === Op.CAW && ret === -EILSEQ) {
      this.lastError = undefined;
      resolve(mismatch);
    } else {
      const e = needAddon().errorOf(op, -ret) as RbdError;
      // A write refused because another client holds the exclusive lock (and will not hand it
      // over, as a gateway in managed-lock mode does): say who, for status and the console.
      if (e.code === "EROFS") {
        this.lockOwnerText().then((who) => {
          e.message = `${e.message}: the image's exclusive lock is held by ${who}`;
          reject(this.failure(op, 0, e));
        });
      } else reject(this.failure(op, -ret, e));
    }
  }

  /** The error a failed request rejects with (fail()'s SCSI mapping), without throwing. */
  private failure(op: number, errno: number, e?: RbdError): unknown {
    try {
      this.fail(e ?? (needAddon().errorOf(op, errno) as RbdError));
    } catch (err) {
      return err;
    }
  }

  read(offset: number, length: number): Promise<Buffer> {
    const f = this.forwardedTo;
    if (f) return f.read(offset, length, readBuffers.take(length));
    if (length >= BL_READ_MIN) return this.io(Op.READ_BL, offset, length);
    return this.io(Op.READ, offset, length, readBuffers.take(length));
  }

  /**
   * A read buffer whose Data-In has left (Backstore.releaseRead): the next read of that size
   * reuses it, or, for a read into librbd's buffers, librbd's buffer is freed now.
   */
  readonly releaseRead = (buf: Buffer): void => {
    if (librbdReads.delete(buf)) needAddon().releaseRead(buf);
    else readBuffers.give(buf);
  };

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    const f = this.forwardedTo;
    if (f) return f.write(offset, data, fua);
    const w = this.io(Op.WRITE, offset, data.length, data);
    return fua ? w.then(() => this.flush()) : w;
  }

  async flush(): Promise<void> {
    if (this.forwardedTo) return this.forwardedTo.flush();
    await this.io(Op.FLUSH, 0, 0);
  }

  /** UNMAP: rbd discard (objects removed or truncated; partial ranges zeroed, rbd_skip_partial_discard=false). */
  async unmap(offset: number, length: number): Promise<void> {
    if (this.forwardedTo) return this.forwardedTo.unmap(offset, length);
    await this.io(Op.DISCARD, offset, length);
  }

  /** WRITE SAME: librbd replicates `block` over the range on the OSDs (rbd_aio_writesame). */
  async writeSame(offset: number, length: number, block: Buffer): Promise<void> {
    if (this.forwardedTo) return this.forwardedTo.writeSame(offset, length, block);
    await this.io(Op.WRITESAME, offset, length, block);
  }

  /**
   * COMPARE AND WRITE: rbd_aio_compare_and_write, atomic on the OSD, so two gateways
   * exporting one image keep VMware ATS correct. Returns -1, or the offset of the first
   * differing byte within the range.
   */
  async compareAndWrite(offset: number, compare: Buffer, data: Buffer, fua: boolean): Promise<number> {
    if (this.forwardedTo) return this.forwardedTo.compareAndWrite(offset, compare, data, fua);
    const r = await this.io(Op.CAW, offset, compare.length, compare, data);
    if (r < 0) {
      if (fua) await this.flush();
      return -1;
    }
    // Miscompare. librbd 16's mismatch offset is not the byte within the range (it names the
    // object's start), so find the first differing byte for the sense INFORMATION ourselves.
    const now = await this.read(offset, compare.length);
    for (let i = 0; i < now.length; i++) if (now[i] !== compare[i]) return i;
    return 0;
  }

  /** GET LBA STATUS from the image's allocated extents (rbd_diff_iterate2 since creation). */
  async status(offset: number, length: number): Promise<{ mapped: boolean; length: number }> {
    if (this.forwardedTo) return this.forwardedTo.status(offset, length);
    const bs = this.blockSize;
    // Bounded work per call: one GET LBA STATUS descriptor at a time, at most 1 GiB looked at.
    const window = Math.min(length, 1 << 30);
    let extents: { offset: number; length: number; exists: boolean }[];
    try {
      extents = (await needAddon().extents(this.image, offset, window)).filter((e) => e.exists);
    } catch (err) {
      throw this.fail(err as RbdError);
    }
    const up = (n: number) => Math.ceil(n / bs) * bs;
    const down = (n: number) => Math.max(bs, Math.floor(n / bs) * bs);
    if (extents.length === 0 || extents[0].offset > offset) {
      const gap = extents.length ? extents[0].offset - offset : window;
      return { mapped: false, length: Math.min(window, down(gap)) };
    }
    let end = extents[0].offset + extents[0].length;
    for (const e of extents.slice(1)) {
      if (e.offset > end) break;
      end = Math.max(end, e.offset + e.length);
    }
    return { mapped: true, length: Math.min(window, up(end - offset)) };
  }

  async resize(newSizeBytes: number): Promise<void> {
    try {
      await needAddon().resize(this.image, newSizeBytes);
    } catch (err) {
      const e = err as RbdError;
      this.noteError(e);
      throw new Error(e.code === "EROFS" ? `${e.message}: the image's exclusive lock is held by ${await this.lockOwnerText()}` : e.message);
    }
    this.sizeBytes = newSizeBytes - (newSizeBytes % this.blockSize);
  }

  /** The image's size as Ceph has it now. */
  async deviceSize(): Promise<number> {
    return (await needAddon().stat(this.image, false)).size;
  }

  /** Size, features, lock owners and (with `withUsed`) allocated bytes as `rbd du` counts them. */
  async stat(withUsed = false): Promise<RbdImageStat> {
    return needAddon().stat(this.image, withUsed);
  }

  private async lockOwnerText(): Promise<string> {
    const owners = await this.stat().then((s) => s.lockOwners, () => []);
    return owners.length ? owners.join(", ") : "another client";
  }

  // ---- ownership and fencing (server/cluster/ownership.ts drives these; docs/cluster.md) ----

  /** Set by fence(): why this gateway must not touch the image (kept apart from Ceph's own `offline` reasons). */
  private fencedBy: string | undefined;

  /**
   * Takes the image's exclusive lock in managed mode (rbd_lock_acquire): from now on librbd
   * refuses to hand it to another client that asks, and this client never takes it back on its
   * own after a release. Rejects (EROFS/EBUSY) while a live client holds it.
   */
  async acquireExclusiveLock(): Promise<void> {
    await needAddon().lockAcquire(this.image);
  }

  /** Releases the exclusive lock (a planned hand-over: after draining). */
  async releaseExclusiveLock(): Promise<void> {
    await needAddon().lockRelease(this.image);
  }

  /** Who holds the exclusive lock: librbd's owner strings (the holder's client address and cookie), empty when free. */
  async exclusiveLockOwners(): Promise<string[]> {
    return (await needAddon().lockOwners(this.image)).owners;
  }

  async holdsExclusiveLock(): Promise<boolean> {
    return needAddon().isLockOwner(this.image);
  }

  /** Breaks `owner`'s lock; librbd blocklists the holder's address as it does so (rbd_blocklist_on_break_lock). */
  async breakExclusiveLock(owner: string): Promise<void> {
    await needAddon().lockBreak(this.image, owner);
  }

  /** `ceph osd blocklist add <address>`: that client's later operations fail with ESHUTDOWN on every OSD. */
  async blocklistClient(address: string, expireSeconds = 3600): Promise<void> {
    const cluster = await this.clusterHandle();
    await needAddon().blocklistAdd(cluster, address, expireSeconds);
  }

  /** This gateway's Ceph client address (what another gateway blocklists to fence this one). */
  async clientAddress(): Promise<string> {
    return needAddon().clientAddress(await this.clusterHandle());
  }

  /**
   * Fences (a reason) or unfences (undefined) the image on this gateway: while fenced every
   * command on it gets NOT READY, as for an offline image. Only clears a fence it set itself.
   */
  fence(reason: string | undefined): void {
    if (reason !== undefined) {
      this.fencedBy = reason;
      if (!this.offline) this.offline = reason;
    } else if (this.fencedBy !== undefined) {
      if (this.offline === this.fencedBy) this.offline = undefined;
      this.fencedBy = undefined;
    }
  }

  /** Where this gateway's data commands go while another gateway owns the image (forward()). */
  private forwardedTo: ForwardedIo | undefined;

  /**
   * Cluster ownership: while another gateway owns the image, this one's data commands go to it
   * (`io`, the peer link) and never through this gateway's Ceph client; undefined: to librbd here.
   * Takes precedence over fence(): a gateway that lost the image may still forward to the new owner.
   */
  forward(io: ForwardedIo | undefined): void {
    this.forwardedTo = io;
  }

  /** Whether data commands go to another gateway (forward()). */
  get forwarding(): boolean {
    return this.forwardedTo !== undefined;
  }

  /** The reason fence() set, while it holds. */
  get fenced(): string | undefined {
    return this.fencedBy;
  }

  /** Resolves when no librbd request of this image is in flight (polling: a drain before a hand-over). */
  async drain(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.inflight > 0) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    return true;
  }

  /** Whether Ceph blocklisted this client (its last error said so). */
  get blocklisted(): boolean {
    return this.lastErrorCode === "EBLOCKLISTED";
  }

  private lastErrorCode: string | undefined;

  private async clusterHandle(): Promise<ClusterHandle> {
    const e = clusters.get(this.clusterKey);
    if (!e) throw new Error(`rbd ${this.name}: the cluster connection is closed`);
    return e.handle;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.offline) await this.flush().catch(() => undefined);
    this.closed = true;
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await needAddon().close(this.image).catch(() => undefined);
    await releaseCluster(this.clusterKey);
  }
}

// ---- cluster browsing for the console and API ----------------------------------------

export interface RbdClusterInfo {
  health: string;
  healthChecks: string[];
  pools: RbdPoolsStat["pools"];
  totalBytes: number;
  usedBytes: number;
  availBytes: number;
}

/** Cluster health and pool usage (console wizard). */
export async function rbdClusterInfo(conf: string, id: string): Promise<RbdClusterInfo> {
  return withCluster(conf, id, async (a, c) => {
    const [healthJson, pools] = await Promise.all([a.monCommand(c, JSON.stringify({ prefix: "health", format: "json" })), a.pools(c)]);
    let health = "UNKNOWN";
    let healthChecks: string[] = [];
    try {
      const h = JSON.parse(healthJson) as { status?: string; checks?: Record<string, { summary?: { message?: string } }> };
      health = h.status ?? health;
      healthChecks = Object.entries(h.checks ?? {}).map(([k, v]) => v.summary?.message ?? k);
    } catch {
      // keep UNKNOWN
    }
    return {
      health,
      healthChecks,
      pools: pools.pools,
      totalBytes: pools.clusterKb * 1024,
      usedBytes: pools.clusterKbUsed * 1024,
      availBytes: pools.clusterKbAvail * 1024,
    };
  });
}

/** Creates an image with rbd create's default features (layering, exclusive-lock, object-map, fast-diff, deep-flatten). */
export async function createRbdImage(conf: string, id: string, pool: string, image: string, sizeBytes: number): Promise<void> {
  await withCluster(conf, id, (a, c) => a.create(c, pool, image, sizeBytes, 1 | 4 | 8 | 16 | 32));
}

export async function removeRbdImage(conf: string, id: string, pool: string, image: string): Promise<void> {
  await withCluster(conf, id, (a, c) => a.remove(c, pool, image));
}

export async function rbdImages(conf: string, id: string, pool: string): Promise<string[]> {
  return withCluster(conf, id, (a, c) => a.images(c, pool));
}
