/**
 * LUNs on Ceph, against a real single-node Ceph (test/support/ceph.ts) and the real appliance:
 * a tcmu `user:rbd` saveconfig restores and serves the image; what QEMU writes through iSCSI
 * is what `rbd export` reads; COMPARE AND WRITE from two sessions; UNMAP frees space per
 * `rbd du`; a resize behind Portico's back raises 2Ah/09h; an OSD that stops answering fails
 * commands with a retryable NOT READY while the other LUN and the console keep working, and
 * IO resumes; monitors that cannot be reached give an error naming them; an image deleted behind
 * Portico's back (client blocklisted, rbd rm) goes offline with NOT READY; an exclusive lock held
 * by another client (python3-rbd, managed mode) refuses writes naming the holder, until released;
 * restart keeps serving.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createTRPCClient, httpLink } from "@trpc/client";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppRouter } from "@/server/api/root";
import { readRuntime, runtimeUrl, TOKEN_HEADER } from "@/server/runtime";
import { startCeph, type Ceph } from "../support/ceph";
import { IscsiClient } from "../support/iscsi-client";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.rbd000000001";
const MiB = 1024 * 1024;
const OSD_OP_TIMEOUT = 4;

let ceph: Ceph;
let dataDir: string;
let iscsiPort: number;
let server: PorticoProcess | undefined;
let api: ReturnType<typeof createTRPCClient<AppRouter>>;
let config: string;

const lunUrl = (lun: number) => `iscsi://127.0.0.1:${iscsiPort}/${IQN}/${lun}`;
const ascOf = (r: { status: number; sense?: Buffer }) => (r.sense ? [r.sense[2] & 0x0f, r.sense[12], r.sense[13]] : [r.status]);

function connectApi(): void {
  const info = readRuntime(dataDir)!;
  api = createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${runtimeUrl(info)}/api/trpc`, transformer: superjson, headers: { [TOKEN_HEADER]: info.token } })],
  });
}

/** As ceph-iscsi leaves it behind: a tcmu user:rbd object, plus a ramdisk and an unsupported user:qcow object. */
function saveconfig(): object {
  return {
    fabric_modules: [],
    storage_objects: [
      { plugin: "user", name: "img1", size: 64 * MiB, config, wwn: "5b1c0a30-0000-4000-8000-0000000000a1", hw_max_sectors: 1024, control: "", attributes: { block_size: 512 } },
      { plugin: "ramdisk", name: "r0", size: 8 * MiB, wwn: "5b1c0a30-0000-4000-8000-0000000000a2", attributes: { block_size: 512 } },
      { plugin: "user", name: "q0", size: 8 * MiB, config: "qcow//var/lib/q0.qcow2", wwn: "5b1c0a30-0000-4000-8000-0000000000a3", attributes: {} },
    ],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [
          {
            tag: 1,
            enable: true,
            attributes: { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0, cache_dynamic_acls: 1 },
            parameters: {},
            luns: [
              { index: 0, storage_object: "/backstores/user:rbd/img1", alias: "r000000000" },
              { index: 1, storage_object: "/backstores/ramdisk/r0", alias: "r000000001" },
              { index: 2, storage_object: "/backstores/user:qcow/q0", alias: "r000000002" },
            ],
            portals: [{ ip_address: "127.0.0.1", port: iscsiPort, iser: false, offload: false }],
            node_acls: [],
          },
        ],
      },
    ],
  };
}

async function login(initiatorName: string, isid?: string): Promise<IscsiClient> {
  const c = await IscsiClient.connect(iscsiPort);
  const r = await c.login({ targetName: IQN, initiatorName, isid });
  expect(r.statusClass).toBe(0);
  // Clear the power-on unit attention on both LUNs.
  for (const lun of [0, 1]) for (let i = 0; i < 4 && (await c.command(Buffer.alloc(6), { lun })).status !== 0; i++);
  return c;
}

function cdb16(op: number, lba: number, blocks: number, byte1 = 0): Buffer {
  const b = Buffer.alloc(16);
  b[0] = op;
  b[1] = byte1;
  b.writeBigUInt64BE(BigInt(lba), 2);
  b.writeUInt32BE(blocks, 10);
  return b;
}

function duUsed(): number {
  const j = JSON.parse(ceph.rbd("du", "--format", "json", "rbd/img1")) as { images: { name: string; used_size: number }[] };
  return j.images.find((i) => i.name === "img1")!.used_size;
}

beforeAll(async () => {
  ceph = await startCeph();
  ceph.rbd("create", "--size", "64M", "rbd/img1");
  config = `rbd/rbd/img1;osd_op_timeout=${OSD_OP_TIMEOUT};conf=${ceph.conf}`;
  dataDir = makeDataDir("portico-rbd-it-");
  iscsiPort = await freePort();
  const file = path.join(dataDir, "saveconfig.json");
  writeFileSync(file, JSON.stringify(saveconfig(), null, 2));
  const r = portico(dataDir, ["restoreconfig", file]);
  expect(r.status, r.stderr + r.stdout).toBe(0);
  // Other tcmu handlers stay reported by name as unsupported.
  expect(r.stdout + r.stderr).toMatch(/user:qcow is not supported/);
  server = await startPortico({ dataDir });
  await waitForPort(iscsiPort);
  connectApi();
}, 180_000);

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  if (dataDir) removeDir(dataDir);
  await ceph?.stop();
}, 60_000);

describe("rbd backstore on a real Ceph", () => {
  it("portico status says whether the rbd backstore can be used here", () => {
    const st = portico(dataDir, ["status"]);
    expect(st.status, st.stderr).toBe(0);
    expect(st.stdout).toMatch(/^Ceph RBD backstore: available \(librbd\)$/m);
  });

  it("restores the tcmu user:rbd object and serves the image to libiscsi (capacity from the image, thin provisioning)", () => {
    const cap = sh("iscsi-readcapacity16", [lunUrl(0)]);
    expect(cap.status, cap.stderr + cap.stdout).toBe(0);
    expect(cap.stdout).toMatch(/Total size:\s*67108864/);
    expect(cap.stdout).toMatch(/LBPME:\s*1/);
  });

  it("data QEMU writes through iSCSI is exactly what rbd export reads", () => {
    const w = sh("qemu-io", ["-f", "raw", "-c", "write -P 0xab 1M 2M", "-c", "write -P 0x5c 60M 4k", lunUrl(0)]);
    expect(w.status, w.stderr + w.stdout).toBe(0);
    const out = path.join(dataDir, "export.img");
    ceph.rbd("export", "rbd/img1", out);
    const img = readFileSync(out);
    expect(img.length).toBe(64 * MiB);
    expect(img.subarray(MiB, 3 * MiB).every((b) => b === 0xab)).toBe(true);
    expect(img.subarray(60 * MiB, 60 * MiB + 4096).every((b) => b === 0x5c)).toBe(true);
    expect(img.subarray(0, MiB).every((b) => b === 0)).toBe(true);
    // And QEMU reads back through Portico what it wrote.
    const r = sh("qemu-io", ["-f", "raw", "-c", "read -P 0xab 1M 2M", lunUrl(0)]);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).not.toMatch(/Pattern verification failed/);
  });

  it("large reads (into librbd's own buffers) return the image's bytes: across an object boundary, at an unaligned offset into a partly written object, over a never-written object", async () => {
    const c = await login("iqn.1994-05.com.redhat:bigread", "400001370009");
    try {
      const data = randomBytes(2 * MiB);
      const at = 23 * MiB; // objects are 4 MiB: this write ends 1 MiB into the object at 24 MiB
      expect((await c.command(cdb16(0x8a, at / 512, data.length / 512), { write: data })).status).toBe(0);
      const read = async (offset: number, length: number) => {
        const r = await c.command(cdb16(0x88, offset / 512, length / 512), { readLength: length });
        expect(r.status).toBe(0);
        return r.data;
      };
      const image = ceph.rbdBytes("export", "rbd/img1", "-");
      // Two objects' replies in one read.
      expect((await read(at, 2 * MiB)).equals(data)).toBe(true);
      // Starts 512 bytes into a 4 KiB block, ends past the written bytes of its object: zeros after them.
      const mid = 25 * MiB - 64 * 1024 - 512;
      const got = await read(mid, 128 * 1024 + 1024);
      expect(got.equals(image.subarray(mid, mid + got.length))).toBe(true);
      expect(got.subarray(0, 64 * 1024 + 512).equals(data.subarray(mid - at, 2 * MiB))).toBe(true);
      expect(got.subarray(64 * 1024 + 512).every((b) => b === 0)).toBe(true);
      // A never-written object reads as zeros.
      expect((await read(28 * MiB, MiB)).every((b) => b === 0)).toBe(true);
    } finally {
      c.close();
    }
  });

  it("small reads are submitted from the event loop while few are in librbd, through the submitter thread past that, when large or behind a queued write; every read returns the image's bytes", async () => {
    // In this process (the addon and rbd.ts without iSCSI), on an image of its own; the addon's
    // first IO in this process reads the limit: at most 2 requests in librbd for an inline read.
    process.env.PORTICO_RBD_INLINE_MAX_OPS = "2";
    const { rbdAddonStats } = await import("@/server/engine/backstores/rbd");
    const b = await openNewImage("inl", "16M");
    try {
      const data = randomBytes(4 * MiB);
      const s0 = rbdAddonStats()!;
      await b.write(0, data, false); // writes always go through the submitter thread
      const s1 = rbdAddonStats()!;
      expect(s1.submitsThread! - s0.submitsThread!).toBe(1);
      expect(s1.submitsInline).toBe(s0.submitsInline);
      const check = async (offset: number, length: number) => {
        const got = await b.read(offset, length);
        expect(got.equals(data.subarray(offset, offset + length))).toBe(true);
        b.releaseRead(got);
      };
      // Two small reads in flight, nothing queued: each submitted right on the event loop; a
      // 1 MiB read (into librbd's buffers) through the thread.
      await Promise.all([0, 1].map((i) => check(i * 4096 + 512, 4096)));
      const s2 = rbdAddonStats()!;
      expect(s2.submitsInline! - s1.submitsInline!).toBe(2);
      expect(s2.submitsThread).toBe(s1.submitsThread);
      await check(MiB, MiB);
      expect(rbdAddonStats()!.submitsThread! - s2.submitsThread!).toBe(1);
      // 600 at once: past 2 in librbd the rest queue for the submitter thread; all complete right.
      await Promise.all(Array.from({ length: 600 }, (_, i) => check((i * 7919 * 512) % (data.length - 4096), 4096)));
      const s3 = rbdAddonStats()!;
      expect(s3.submitsInline! - s2.submitsInline!).toBeGreaterThanOrEqual(2);
      expect(s3.submitsThread! - s2.submitsThread! - 1).toBeGreaterThan(0);
      expect(s3.submitsInline! - s2.submitsInline! + s3.submitsThread! - s2.submitsThread!).toBe(601);
      // A read right behind a write (queued for the thread, or already submitted by it) sees it.
      data.fill(0x5a, 8192, 8192 + 4096);
      await Promise.all([b.write(8192, Buffer.alloc(4096, 0x5a), false), check(8192, 4096)]);
    } finally {
      await b.close();
    }
  });

  it("completions that arrive while the event loop is busy are delivered at the end of its turn, without a wake-up; every read returns the image's bytes", async () => {
    const { rbdAddonStats } = await import("@/server/engine/backstores/rbd");
    const b = await openNewImage("turn", "8M");
    try {
      const data = randomBytes(2 * MiB);
      await b.write(0, data, false);
      const s0 = rbdAddonStats()!;
      const reads = Array.from({ length: 64 }, (_, i) => {
        const offset = ((i * 7919) % 500) * 4096;
        return b.read(offset, 4096).then((got) => {
          expect(got.equals(data.subarray(offset, offset + 4096))).toBe(true);
          b.releaseRead(got);
        });
      });
      // Keep the loop busy in this turn while librbd completes them (the OSD answers in well under 1 s).
      const until = Date.now() + 1000;
      while (Date.now() < until) {
        // busy
      }
      await Promise.all(reads);
      const drained = rbdAddonStats()!.turnDrained! - s0.turnDrained!;
      expect(drained).toBeGreaterThan(0);
      expect(drained).toBeLessThanOrEqual(64);
    } finally {
      await b.close();
    }
  });

  it("COMPARE AND WRITE from two sessions: the first wins, the second gets MISCOMPARE at the first differing byte", async () => {
    const a = await login("iqn.1994-05.com.redhat:caw-a", "400001370001");
    const b = await login("iqn.1994-05.com.redhat:caw-b", "400001370002");
    try {
      const lba = 2048 * 10; // 10 MiB
      const old = Buffer.alloc(512, 0x11);
      expect((await a.command(cdb16(0x8a, lba, 1), { write: old })).status).toBe(0);
      const caw = (lbaN: number) => {
        const c = Buffer.alloc(16);
        c[0] = 0x89;
        c.writeBigUInt64BE(BigInt(lbaN), 2);
        c[13] = 1;
        return c;
      };
      const ra = await a.command(caw(lba), { write: Buffer.concat([old, Buffer.alloc(512, 0xaa)]) });
      expect(ra.status).toBe(0);
      const rb = await b.command(caw(lba), { write: Buffer.concat([old, Buffer.alloc(512, 0xbb)]) });
      expect(ascOf(rb)).toEqual([0x0e, 0x1d, 0x00]);
      // INFORMATION: offset 0 differs (0x11 expected, 0xaa found).
      expect(rb.sense!.readUInt32BE(3)).toBe(0);
      const exported = ceph.rbdBytes("export", "rbd/img1", "-");
      expect(exported.subarray(lba * 512, lba * 512 + 512).every((x) => x === 0xaa)).toBe(true);
    } finally {
      a.close();
      b.close();
    }
  });

  it("UNMAP frees space (rbd du) and GET LBA STATUS reports the range deallocated", async () => {
    const c = await login("iqn.1994-05.com.redhat:unmap");
    try {
      const lba = 2048 * 32; // 32 MiB: objects 8 and 9 (4 MiB objects)
      const data = Buffer.alloc(8 * MiB, 0x77);
      for (let off = 0; off < data.length; off += MiB) {
        const r = await c.command(cdb16(0x8a, lba + off / 512, 2048), { write: data.subarray(off, off + MiB) });
        expect(r.status).toBe(0);
      }
      const before = duUsed();
      const lbaStatus = async () => {
        const cdb = cdb16(0x9e, lba, 4096, 0x12); // SERVICE ACTION IN(16) GET LBA STATUS, allocation length 4096
        const r = await c.command(cdb, { lun: 0, readLength: 4096 });
        expect(r.status, JSON.stringify(ascOf(r))).toBe(0);
        expect(r.data.readBigUInt64BE(8)).toBe(BigInt(lba));
        return r.data[8 + 12] & 0x0f; // first descriptor: 0 mapped, 1 deallocated
      };
      expect(await lbaStatus()).toBe(0);
      const param = Buffer.alloc(24);
      param.writeUInt16BE(22, 0);
      param.writeUInt16BE(16, 2);
      param.writeBigUInt64BE(BigInt(lba), 8);
      param.writeUInt32BE(8 * 2048, 16);
      const u = await c.command(Buffer.from([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]), { write: param });
      expect(u.status, JSON.stringify(ascOf(u))).toBe(0);
      const after = duUsed();
      expect(before - after).toBeGreaterThanOrEqual(8 * MiB);
      expect(await lbaStatus()).toBe(1);
      const rd = await c.command(cdb16(0x88, lba, 8), { readLength: 4096 });
      expect(rd.data.every((x) => x === 0)).toBe(true);
    } finally {
      c.close();
    }
  });

  it("rbd resize behind Portico's back raises CAPACITY DATA HAS CHANGED and READ CAPACITY follows", async () => {
    const c = await login("iqn.1994-05.com.redhat:resize");
    try {
      ceph.rbd("resize", "--size", "96M", "rbd/img1");
      let asc: number[] = [];
      for (let i = 0; i < 50; i++) {
        asc = ascOf(await c.command(Buffer.alloc(6), { lun: 0 }));
        if (asc.length === 3) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(asc).toEqual([0x06, 0x2a, 0x09]);
      const cap = await c.command(Buffer.from([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]), { lun: 0, readLength: 32 });
      expect(Number(cap.data.readBigUInt64BE(0)) + 1).toBe((96 * MiB) / 512);
      const detail = await api.rbd.image.query({ plugin: "rbd", name: "img1" });
      expect(detail.provisioned).toBe(96 * MiB);
      expect(detail.features).toContain("exclusive-lock");
      expect(detail.used).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });

  it("an OSD that stops answering: commands fail after osd_op_timeout with a retryable NOT READY, the other LUN and the console keep working, IO resumes", async () => {
    const c = await login("iqn.1994-05.com.redhat:osd");
    // The read below must need the OSD. librbd answers a read of an object its object map says
    // was never written with zeros, without asking the OSD, once this client holds the image's
    // exclusive lock (any earlier write took it): with CAW's test alone before this one, a read of
    // object 0 came back GOOD after 116 ms with the OSD stopped. So write the range first, with
    // the OSD running, in an object no other test uses (the restart test reads 0xab at 1-3 MiB).
    const lba = (48 * MiB) / 512; // object 12
    const data = Buffer.alloc(4096, 0x3c);
    try {
      // FUA: on the OSD before the OSD stops (the write-around cache acknowledges writes early).
      expect((await c.command(cdb16(0x8a, lba, 8, 0x08), { lun: 0, write: data })).status).toBe(0);
      ceph.pauseOsd();
      const t0 = Date.now();
      const stuck = c.command(cdb16(0x88, lba, 8), { lun: 0, readLength: 4096 });
      // Meanwhile: the ramdisk LUN answers at once, and so does the console's API.
      const tr = Date.now();
      const other = await c.command(cdb16(0x8a, 0, 8), { lun: 1, write: Buffer.alloc(4096, 1) });
      expect(other.status).toBe(0);
      expect(Date.now() - tr).toBeLessThan(1000);
      const list = await api.storage.list.query();
      expect(list.map((s) => s.name)).toContain("img1");
      const r = await stuck;
      const took = Date.now() - t0;
      expect(ascOf(r), `READ after ${took} ms${r.status === 0 ? (r.data.equals(data) ? ", the data written" : ", NOT the data written") : ""}`).toEqual([0x02, 0x04, 0x0a]);
      expect(took).toBeGreaterThanOrEqual((OSD_OP_TIMEOUT - 1) * 1000);
      expect(took).toBeLessThan((OSD_OP_TIMEOUT + 10) * 1000);
    } finally {
      ceph.resumeOsd();
    }
    try {
      let r = await c.command(cdb16(0x88, lba, 8), { lun: 0, readLength: 4096 });
      for (let i = 0; i < 20 && r.status !== 0; i++) {
        await new Promise((res) => setTimeout(res, 500));
        r = await c.command(cdb16(0x88, lba, 8), { lun: 0, readLength: 4096 });
      }
      expect(r.status).toBe(0);
      expect(r.data.equals(data)).toBe(true);
    } finally {
      c.close();
    }
  }, 60_000);

  it("monitors that cannot be reached: creating an rbd object fails within 15 s naming them", async () => {
    const bad = path.join(dataDir, "unreachable.conf");
    const port = await freePort();
    writeFileSync(bad, `[global]\nmon host = 127.0.0.1:${port}\nauth client required = none\n`);
    const t0 = Date.now();
    await expect(api.storage.create.mutate({ plugin: "rbd", name: "nomon", config: `rbd/rbd/img1;conf=${bad}` })).rejects.toThrow(`127.0.0.1:${port}`);
    expect(Date.now() - t0).toBeLessThan(15_000);
    // The appliance is fine afterwards.
    expect((await api.storage.list.query()).some((s) => s.name === "nomon")).toBe(false);
  }, 30_000);

  it("a new image from the API, and the cluster's health and pools for the wizard", async () => {
    const created = await api.storage.create.mutate({ plugin: "rbd", name: "img2", config: `rbd/rbd/img2;conf=${ceph.conf}`, createImageSize: 16 * MiB });
    expect(created.size).toBe(16 * MiB);
    expect(ceph.rbd("ls", "rbd").split("\n")).toContain("img2");
    const info = await api.rbd.cluster.query({ conf: ceph.conf, id: "admin" });
    expect(info.pools.map((p) => p.name)).toContain("rbd");
    expect(info.health).toMatch(/^HEALTH_/);
    expect(await api.rbd.images.query({ conf: ceph.conf, id: "admin", pool: "rbd" })).toEqual(expect.arrayContaining(["img1", "img2"]));
    await api.storage.delete.mutate({ plugin: "rbd", name: "img2" });
  });

  it("the shell: /backstores/user:rbd create name size cfgstring serves an existing image; ls shows it", () => {
    ceph.rbd("create", "--size", "24M", "rbd/img3");
    const cfg = `rbd/rbd/img3;conf=${ceph.conf}`;
    // As in targetcli, a value holding '=' is given by keyword.
    const r = portico(dataDir, ["/backstores/user:rbd", "create", "img3", "24M", `cfgstring=${cfg}`]);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const ls = portico(dataDir, ["ls", "/backstores/user:rbd"]);
    expect(ls.stdout).toMatch(/o- img3 \.+ \[rbd\/rbd\/img3;conf=\S+ \(24\.0MiB\) activated\]/);
    const bad = portico(dataDir, ["/backstores/user:rbd", "create", "img4", "24M", `cfgstring=rbd/rbd/nosuch;conf=${ceph.conf}`]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr + bad.stdout).toMatch(/rbd\/nosuch does not exist/);
    expect(portico(dataDir, ["/backstores/user:rbd", "delete", "img3"]).status).toBe(0);
  });

  /** A new image `name` of `size`, opened in this process (the addon and rbd.ts without iSCSI). */
  async function openNewImage(name: string, size: string) {
    const { RbdBackstore } = await import("@/server/engine/backstores/rbd");
    ceph.rbd("create", "--size", size, `rbd/${name}`);
    return RbdBackstore.open(name, `rbd/rbd/${name};conf=${ceph.conf}`, 512);
  }

  /** A new image served as LUN `lun` (API create, shell LUN), with a session that got past its unit attentions. */
  async function serveNewImage(name: string, lun: number): Promise<{ c: IscsiClient; cfg: string }> {
    ceph.rbd("create", "--size", "16M", `rbd/${name}`);
    const cfg = `rbd/rbd/${name};conf=${ceph.conf}`;
    await api.storage.create.mutate({ plugin: "rbd", name, config: cfg });
    const r = portico(dataDir, [`/iscsi/${IQN}/tpg1/luns`, "create", `/backstores/user:rbd/${name}`, String(lun)]);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const c = await login(`iqn.1994-05.com.redhat:${name}`);
    for (let i = 0; i < 4 && (await c.command(Buffer.alloc(6), { lun })).status !== 0; i++);
    expect((await c.command(cdb16(0x8a, 0, 8), { lun, write: Buffer.alloc(4096, 0x42) })).status).toBe(0);
    return { c, cfg };
  }

  async function unserve(name: string, lun: number): Promise<void> {
    expect(portico(dataDir, [`/iscsi/${IQN}/tpg1/luns`, "delete", String(lun)]).status).toBe(0);
    await api.storage.delete.mutate({ plugin: "rbd", name });
  }

  it("an image deleted behind Portico's back (its client blocklisted, then rbd rm): the LUN answers NOT READY, the object shows offline with the reason, nothing else is disturbed", async () => {
    const { c } = await serveNewImage("gone", 3);
    try {
      // Ceph refuses to remove an image with watchers; an admin blocklists the watcher first.
      expect(() => ceph.rbd("rm", "--no-progress", "rbd/gone")).toThrow(/watchers/);
      const watchers = JSON.parse(ceph.rbd("status", "--format", "json", "rbd/gone")) as { watchers: { address: string }[] };
      expect(watchers.watchers.length).toBe(1);
      ceph.ceph("osd", "blocklist", "add", watchers.watchers[0].address);
      ceph.rbd("rm", "--no-progress", "rbd/gone");
      let r = await c.command(cdb16(0x88, 0, 8), { lun: 3, readLength: 4096 });
      for (let i = 0; i < 20 && r.status === 0; i++) {
        await new Promise((res) => setTimeout(res, 250));
        r = await c.command(cdb16(0x8a, 8, 8), { lun: 3, write: Buffer.alloc(4096, 1) });
      }
      expect(ascOf(r)).toEqual([0x02, 0x04, 0x03]); // NOT READY, MANUAL INTERVENTION REQUIRED
      // Once offline, every command gets the same answer at once, without going to Ceph.
      const t0 = Date.now();
      expect(ascOf(await c.command(cdb16(0x88, 0, 8), { lun: 3, readLength: 4096 }))).toEqual([0x02, 0x04, 0x03]);
      expect(Date.now() - t0).toBeLessThan(1000);
      const detail = await api.rbd.image.query({ plugin: "rbd", name: "gone" });
      expect(detail.offline).toMatch(/blocklisted|no longer exists/);
      const listed = (await api.storage.list.query()).find((s) => s.name === "gone");
      expect(listed).toBeDefined();
      // The other LUNs on the same session, and img1 on its own cluster connection, keep working.
      expect((await c.command(cdb16(0x88, 0, 8), { lun: 1, readLength: 4096 })).status).toBe(0);
      expect((await c.command(cdb16(0x88, 2048, 8), { lun: 0, readLength: 4096 })).status).toBe(0);
    } finally {
      c.close();
    }
    await unserve("gone", 3);
    ceph.ceph("osd", "blocklist", "clear");
  }, 60_000);

  it("the image's exclusive lock held by another client: writes fail with a clear sense, the holder is named, and writes work again once it lets go", async () => {
    const { c, cfg } = await serveNewImage("held", 4);
    // Another client takes the exclusive lock in managed mode (as a gateway does) and keeps it.
    const holder = spawn(
      "/usr/bin/python3",
      [
        "-c",
        [
          "import rados, rbd, sys",
          `c = rados.Rados(conffile=${JSON.stringify(ceph.conf)}); c.connect()`,
          "io = c.open_ioctx('rbd'); img = rbd.Image(io, 'held')",
          "img.lock_acquire(rbd.RBD_LOCK_MODE_EXCLUSIVE)",
          "print('locked', c.get_instance_id(), flush=True)",
          "sys.stdin.read()",
          "img.lock_release(); img.close(); io.close(); c.shutdown()",
        ].join("\n"),
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = "";
        let err = "";
        holder.stdout!.on("data", (b: Buffer) => {
          out += b.toString();
          if (out.includes("\n")) resolve(out.trim());
        });
        holder.stderr!.on("data", (b: Buffer) => (err += b.toString()));
        holder.on("exit", (code) => reject(new Error(`lock holder exited ${code}: ${err}`)));
      });
      const holderId = line.split(" ")[1];
      const t0 = Date.now();
      const w = await c.command(cdb16(0x8a, 0, 8), { lun: 4, write: Buffer.alloc(4096, 0x43) });
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(ascOf(w)).toEqual([0x07, 0x27, 0x00]); // DATA PROTECT, WRITE PROTECTED
      const detail = await api.rbd.image.query({ plugin: "rbd", name: "held" });
      expect(detail.offline).toBeNull();
      // librbd names lock owners by client address; `rbd lock ls` ties that address to the holder.
      expect(detail.lockOwners).toHaveLength(1);
      const locks = ceph.rbd("lock", "ls", "rbd/held");
      expect(locks).toContain(`client.${holderId}`);
      expect(locks).toContain(detail.lockOwners[0]);
      expect(detail.lastError).toContain(`exclusive lock is held by ${detail.lockOwners[0]}`);
      // Reads do not need the lock.
      expect((await c.command(cdb16(0x88, 0, 8), { lun: 4, readLength: 4096 })).status).toBe(0);
      // The holder lets go: writes work again without any action on Portico.
      holder.stdin!.end();
      await new Promise((res) => holder.once("exit", res));
      let ok = false;
      for (let i = 0; i < 40 && !ok; i++) {
        ok = (await c.command(cdb16(0x8a, 0, 8), { lun: 4, write: Buffer.alloc(4096, 0x44) })).status === 0;
        if (!ok) await new Promise((res) => setTimeout(res, 250));
      }
      expect(ok).toBe(true);
      expect(ceph.rbdBytes("export", "rbd/held", "-").subarray(0, 4096).every((x) => x === 0x44)).toBe(true);
      void cfg;
    } finally {
      holder.kill();
      c.close();
    }
    await unserve("held", 4);
  }, 90_000);

  it("saveconfig exports the user:rbd object in tcmu's form, and a restart keeps serving the image", async () => {
    const r = portico(dataDir, ["saveconfig"]);
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { storage_objects: Record<string, unknown>[]; targets: { tpgs: { luns: { storage_object: string }[] }[] }[] };
    const so = doc.storage_objects.find((s) => s.name === "img1")!;
    expect(so).toMatchObject({ plugin: "user", config, wwn: "5b1c0a30-0000-4000-8000-0000000000a1" });
    expect(doc.targets[0].tpgs[0].luns.map((l) => l.storage_object)).toContain("/backstores/user:rbd/img1");

    await server!.stop();
    server = await startPortico({ dataDir });
    await waitForPort(iscsiPort);
    connectApi();
    const rd = sh("qemu-io", ["-f", "raw", "-c", "read -P 0xab 1M 2M", lunUrl(0)]);
    expect(rd.status, rd.stderr + rd.stdout).toBe(0);
    expect(rd.stdout).not.toMatch(/Pattern verification failed/);
  }, 60_000);
});
