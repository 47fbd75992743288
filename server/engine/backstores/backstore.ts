/**
 * The one interface every backstore (LIO "storage object" backend) implements.
 *
 * Offsets and lengths are in bytes and always multiples of `blockSize`; the SCSI
 * layer range-checks LBAs before calling, so a backstore may assume valid ranges.
 */

/** "rbd": a Ceph RBD image through librbd (LIO's tcmu `user:rbd`; its config string is the object's `dev`). */
export type BackstorePlugin = "ramdisk" | "fileio" | "block" | "rbd";

export interface Backstore {
  readonly plugin: BackstorePlugin;
  /** Logical block size in bytes: 512 or 4096. */
  readonly blockSize: number;
  /** Capacity in bytes, a multiple of blockSize. */
  readonly sizeBytes: number;
  /**
   * true: write-back. A write may sit in a volatile cache until flush() or a FUA
   * write; MODE SENSE reports WCE=1. false: write-through, every write is stable
   * on return (SBC-4 §4.15).
   */
  readonly writeBack: boolean;
  /** true when the backing device was opened read-only (block `readonly`): writes are refused as write-protected. */
  readonly readonly?: boolean;
  /**
   * true when unmap() really deallocates (ramdisk pages dropped, fileio punch-hole);
   * false when it falls back to writing zeros. Either way, unmapped ranges read back as zeros.
   */
  readonly reclaims?: boolean;

  /** Reads `length` bytes at `offset`. The returned buffer may be a view into backstore memory: callers must not keep it past the next write. */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Takes back a buffer read() returned once nothing references it any more (the transport
   * calls it when the Data-In carrying it has been written to the socket). Optional: a backstore
   * that pools its read buffers (rbd) reuses it; one never given back is garbage-collected.
   */
  readonly releaseRead?: (buf: Buffer) => void;
  /** Writes `data` at `offset`. With `fua`, the data is on stable storage when the promise resolves. */
  write(offset: number, data: Buffer, fua: boolean): Promise<void>;
  /**
   * read() for a backstore whose data is in memory (ramdisk): done before returning, so the
   * SCSI layer answers in the same turn with no promise. Same contract as read(); undefined
   * when it cannot (the caller then uses read()). Optional.
   */
  readSync?(offset: number, length: number): Buffer | undefined;
  /** write() done before returning (ramdisk), with write()'s guarantees (`fua`: stable on return); false when it cannot (use write()). Optional. */
  writeSync?(offset: number, data: Buffer, fua: boolean): boolean;
  /** SYNCHRONIZE CACHE: everything written so far reaches stable storage. */
  flush(): Promise<void>;
  /** Deallocates a range (UNMAP / WRITE SAME with UNMAP); reads of it return zeros afterwards. Optional. */
  unmap?(offset: number, length: number): Promise<void>;
  /**
   * Provisioning status of the range starting at `offset` (GET LBA STATUS): whether
   * it is mapped and how many bytes share that status (≥ blockSize, ≤ `length`). Optional:
   * without it every block counts as mapped.
   */
  status?(offset: number, length: number): Promise<{ mapped: boolean; length: number }>;
  /** WRITE SAME without UNMAP done by the backstore itself (rbd: on the OSDs); `block` is one logical block. Optional. */
  writeSame?(offset: number, length: number, block: Buffer): Promise<void>;
  /**
   * COMPARE AND WRITE done atomically by the backstore itself (rbd: on the OSD, so it holds
   * across gateways). Resolves -1 when written, or the byte offset of the first mismatch. Optional.
   */
  compareAndWrite?(offset: number, compare: Buffer, data: Buffer, fua: boolean): Promise<number>;
  /** Why the backing storage cannot be used any more (rbd image removed...): status shows the object offline. */
  readonly offline?: string;
  /** Fences the backstore on this node (a reason) or lifts that fence (undefined): cluster ownership (rbd). Optional. */
  fence?(reason: string | undefined): void;
  /**
   * Sends this node's data commands of the LU elsewhere (`io`), or back to the backstore itself
   * (undefined): in a cluster, a gateway that does not own an rbd LU forwards them to the owner,
   * whose Ceph client alone touches the image (docs/cluster.md, "Forwarding"). Optional.
   */
  forward?(io: ForwardedIo | undefined): void;
  /** Grows the backstore to `newSizeBytes` (block: at most the device's current size, see deviceSize). Optional. */
  resize?(newSizeBytes: number): Promise<void>;
  /** block: the backing device's size now (re-read: the device may have grown since it was opened). Optional. */
  deviceSize?(): Promise<number>;
  /**
   * Attribute defaults that are facts of the opened storage (rbd: UNMAP limits from the
   * image's object size); attributes given explicitly still win. Optional.
   */
  readonly attributeDefaults?: Readonly<Record<string, number>>;
  /** Flushes and releases file descriptors and memory. */
  close(): Promise<void>;
}

/**
 * The data operations a gateway that does not own an LU hands to the one that does (the cluster
 * layer's peer link implements it; the engine only calls it). Same contracts as Backstore's
 * methods; a failure that the initiator should retry is a SenseError NOT READY, 04h/0Ah.
 */
export interface ForwardedIo {
  /** Reads into `into` (exactly `length` bytes) and resolves with it. */
  read(offset: number, length: number, into: Buffer): Promise<Buffer>;
  write(offset: number, data: Buffer, fua: boolean): Promise<void>;
  flush(): Promise<void>;
  unmap(offset: number, length: number): Promise<void>;
  writeSame(offset: number, length: number, block: Buffer): Promise<void>;
  compareAndWrite(offset: number, compare: Buffer, data: Buffer, fua: boolean): Promise<number>;
  status(offset: number, length: number): Promise<{ mapped: boolean; length: number }>;
}

/** What it takes to open a backstore (saveconfig.json storage object fields). */
export interface BackstoreSpec {
  plugin: BackstorePlugin;
  /** Storage object name (used for messages). */
  name: string;
  /** Capacity in bytes: required for ramdisk, and for fileio (rbd) when the file (image) does not exist yet. */
  size?: number;
  /** fileio: path of a regular file; block: path of a block device; rbd: the `rbd/<pool>/<image>[;conf=..][;id=..][;osd_op_timeout=..]` config string. */
  dev?: string;
  /** 512 (default) or 4096. */
  blockSize?: number;
  /** Write-back cache (fileio `write_back`, LIO emulate_write_cache). Default false: write-through. */
  writeBack?: boolean;
  /** fileio: create the file sparse (ftruncate) rather than preallocated. Default true. */
  sparse?: boolean;
  /** block: open read-only. */
  readonly?: boolean;
  /**
   * fileio: a sparse size beyond the file system's free space is accepted (the admin confirmed
   * over-commit); without it the engine refuses such a size with EngineError code "overcommit".
   */
  overcommit?: boolean;
}

/**
 * Opens or creates a backstore. Implemented in backstores/index.ts.
 * Throws an Error with a clear, admin-readable message (missing file, not a block device, size too small...).
 */
export type OpenBackstore = (spec: BackstoreSpec) => Promise<Backstore>;
