import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { openBackstore, RamdiskBackstore, nativeAddon } from "../../../server/engine/backstores";
import type { Backstore } from "../../../server/engine/backstores/backstore";
import { fdRing } from "../../../server/engine/backstores/uring";

let dir: string;
const open: Backstore[] = [];
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-bs-"));
});
afterEach(async () => {
  vi.restoreAllMocks();
  for (const b of open.splice(0)) await b.close().catch(() => undefined);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function opened(p: Promise<Backstore>): Promise<Backstore> {
  const b = await p;
  open.push(b);
  return b;
}

describe("ramdisk", () => {
  it("allocates pages lazily and reads zeros where nothing was written", async () => {
    const rd = (await opened(openBackstore({ plugin: "ramdisk", name: "r", size: 1 << 30 }))) as RamdiskBackstore;
    expect(rd.sizeBytes).toBe(1 << 30);
    expect(rd.allocatedBytes).toBe(0);
    expect((await rd.read(512 * 1000, 4096)).equals(Buffer.alloc(4096))).toBe(true);
    await rd.write(5 << 20, Buffer.alloc(512, 9), false);
    expect(rd.allocatedBytes).toBe(rd.pageSize);
    expect((await rd.read(5 << 20, 512))[511]).toBe(9);
  });

  it("reads and writes across page boundaries", async () => {
    const rd = new RamdiskBackstore(512, 4 << 20, 64 * 1024);
    const data = Buffer.alloc(3 * 65536);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    await rd.write(65536 - 512, data, false);
    expect((await rd.read(65536 - 512, data.length)).equals(data)).toBe(true);
  });

  it("unmap drops whole pages and zeroes partial ones", async () => {
    const rd = new RamdiskBackstore(512, 4 << 20, 64 * 1024);
    await rd.write(0, Buffer.alloc(2 * 65536, 1), false);
    await rd.unmap(512, 65536 * 2 - 512);
    expect(rd.allocatedBytes).toBe(65536);
    expect((await rd.read(0, 1024)).subarray(512).equals(Buffer.alloc(512))).toBe(true);
    expect((await rd.read(0, 512))[0]).toBe(1);
    expect(await rd.status(65536, 65536)).toEqual({ mapped: false, length: 65536 });
  });

  it("needs a size and rounds capacity down to whole blocks", async () => {
    await expect(openBackstore({ plugin: "ramdisk", name: "r" })).rejects.toThrow(/needs a size/);
    const rd = await opened(openBackstore({ plugin: "ramdisk", name: "r", size: 10000, blockSize: 4096 }));
    expect(rd.sizeBytes).toBe(8192);
    await expect(openBackstore({ plugin: "ramdisk", name: "r", size: 4096, blockSize: 1024 })).rejects.toThrow(/512 or 4096/);
  });
});

describe("fileio", () => {
  it("creates a sparse file of the given size", async () => {
    const file = path.join(dir, "sparse.img");
    const b = await opened(openBackstore({ plugin: "fileio", name: "f", dev: file, size: 64 << 20 }));
    const st = fs.statSync(file);
    expect(st.size).toBe(64 << 20);
    expect(st.blocks * 512).toBeLessThan(1 << 20);
    expect(b.sizeBytes).toBe(64 << 20);
    expect(b.writeBack).toBe(false);
  });

  it("round-trips data and survives reopen; an existing file's size wins", async () => {
    const file = path.join(dir, "data.img");
    const b = await openBackstore({ plugin: "fileio", name: "f", dev: file, size: 1 << 20 });
    await b.write(4096, Buffer.alloc(4096, 0x5a), true);
    await b.close();
    const again = await opened(openBackstore({ plugin: "fileio", name: "f", dev: file }));
    expect(again.sizeBytes).toBe(1 << 20);
    expect((await again.read(4096, 4096)).equals(Buffer.alloc(4096, 0x5a))).toBe(true);
  });

  it("grows an existing file when a larger size is given", async () => {
    const file = path.join(dir, "grow.img");
    fs.writeFileSync(file, Buffer.alloc(8192, 1));
    const b = await opened(openBackstore({ plugin: "fileio", name: "f", dev: file, size: 65536 }));
    expect(b.sizeBytes).toBe(65536);
    expect(fs.statSync(file).size).toBe(65536);
    expect((await b.read(0, 512))[0]).toBe(1);
  });

  it("gives clear errors for a missing directory, a missing file without size and a directory", async () => {
    await expect(openBackstore({ plugin: "fileio", name: "f", dev: path.join(dir, "nope", "x.img"), size: 4096 })).rejects.toThrow(/directory .*nope does not exist/);
    await expect(openBackstore({ plugin: "fileio", name: "f", dev: path.join(dir, "missing.img") })).rejects.toThrow(/does not exist: give a size/);
    await expect(openBackstore({ plugin: "fileio", name: "f", dev: dir, size: 4096 })).rejects.toThrow(/is a directory/);
    await expect(openBackstore({ plugin: "fileio", name: "f" })).rejects.toThrow(/needs a file path/);
  });

  it("write-back: flush() calls fdatasync and a FUA write is made stable, plain writes are not", async () => {
    const file = path.join(dir, "wb.img");
    const b = await opened(openBackstore({ plugin: "fileio", name: "f", dev: file, size: 1 << 20, writeBack: true }));
    expect(b.writeBack).toBe(true);
    const ring = fdRing();
    if (ring) {
      // io_uring: a FUA write carries RWF_DSYNC (that write alone stable), flush is an fdatasync SQE.
      const write = vi.spyOn(ring, "write");
      const sync = vi.spyOn(ring, "fdatasync");
      await b.write(0, Buffer.alloc(512, 1), false);
      expect(write.mock.calls.at(-1)?.[5]).toBe(false);
      await b.write(0, Buffer.alloc(512, 2), true);
      expect(write.mock.calls.at(-1)?.[5]).toBe(true);
      expect(sync).toHaveBeenCalledTimes(0);
      await b.flush();
      expect(sync).toHaveBeenCalledTimes(1);
      return;
    }
    const spy = vi.spyOn(fs, "fdatasync");
    await b.write(0, Buffer.alloc(512, 1), false);
    expect(spy).toHaveBeenCalledTimes(0);
    await b.write(0, Buffer.alloc(512, 2), true);
    expect(spy).toHaveBeenCalledTimes(1);
    await b.flush();
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it("write-through opens the file with O_DSYNC", async () => {
    const spy = vi.spyOn(fs, "open");
    const file = path.join(dir, "wt.img");
    await opened(openBackstore({ plugin: "fileio", name: "f", dev: file, size: 1 << 20 }));
    const flags = spy.mock.calls.map((c) => c[1] as unknown);
    expect(flags.some((f) => typeof f === "number" && (f & fs.constants.O_DSYNC) !== 0)).toBe(true);
  });

  it("unmap punches a hole (real reclaim with the addon) and reads zeros", async () => {
    const file = path.join(dir, "punch.img");
    const b = await opened(openBackstore({ plugin: "fileio", name: "f", dev: file, size: 8 << 20 }));
    await b.write(0, Buffer.alloc(4 << 20, 0x33), false);
    const before = fs.statSync(file).blocks;
    await b.unmap!(0, 4 << 20);
    expect((await b.read(0, 8192)).equals(Buffer.alloc(8192))).toBe(true);
    // Real reclaim needs the addon (native/build.sh); without it unmap writes zeros.
    expect(b.reclaims).toBe(nativeAddon !== undefined);
    if (b.reclaims) {
      expect(fs.statSync(file).blocks).toBeLessThan(before);
      expect((await b.status!(0, 8 << 20)).mapped).toBe(false);
      await b.write(1 << 20, Buffer.alloc(4096, 1), false);
      expect((await b.status!(1 << 20, 1 << 20)).mapped).toBe(true);
    } else {
      expect((await b.status!(0, 8 << 20)).mapped).toBe(true);
    }
  });

  it("refuses a block device and points to the block backstore", async () => {
    const loop = losetupOk() ? attachLoop(path.join(dir, "lo-f.img")) : undefined;
    if (!loop) throw new Error("losetup unavailable: this machine should provide it (run as root)");
    try {
      await expect(openBackstore({ plugin: "fileio", name: "f", dev: loop })).rejects.toThrow(/block device/);
    } finally {
      execFileSync("losetup", ["-d", loop]);
    }
  });
});

function losetupOk(): boolean {
  try {
    execFileSync("losetup", ["--version"], { stdio: "ignore" });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}
function attachLoop(file: string, size = 4 << 20): string {
  fs.writeFileSync(file, Buffer.alloc(0));
  fs.truncateSync(file, size);
  return execFileSync("losetup", ["-f", "--show", file], { encoding: "utf8" }).trim();
}

describe("block", () => {
  it("opens a loop device, takes its size from sysfs and round-trips data", async () => {
    if (!losetupOk()) throw new Error("losetup unavailable: this machine should provide it (run as root)");
    const file = path.join(dir, "loop.img");
    const loop = attachLoop(file, 6 << 20);
    try {
      const b = await openBackstore({ plugin: "block", name: "b", dev: loop });
      expect(b.plugin).toBe("block");
      expect(b.sizeBytes).toBe(6 << 20);
      await b.write(8192, Buffer.alloc(4096, 0x77), true);
      expect((await b.read(8192, 4096)).equals(Buffer.alloc(4096, 0x77))).toBe(true);
      await b.flush();
      await b.close();
      const raw = fs.readFileSync(file).subarray(8192, 8192 + 4096);
      expect(raw.equals(Buffer.alloc(4096, 0x77))).toBe(true);
      const ro = await openBackstore({ plugin: "block", name: "b", dev: loop, readonly: true });
      expect(ro.readonly).toBe(true);
      await expect(ro.write(0, Buffer.alloc(512), false)).rejects.toThrow(/read-only/);
      await ro.close();
    } finally {
      execFileSync("losetup", ["-d", loop]);
    }
  });

  it("refuses a regular file and a missing device with clear messages", async () => {
    const file = path.join(dir, "plain.img");
    fs.writeFileSync(file, Buffer.alloc(4096));
    await expect(openBackstore({ plugin: "block", name: "b", dev: file })).rejects.toThrow(/not a block device: use the fileio backstore/);
    await expect(openBackstore({ plugin: "block", name: "b", dev: "/dev/does-not-exist" })).rejects.toThrow(/does not exist/);
  });
});
