/**
 * Attributes honoured by the SCSI layer, refusals LIO makes "while exported", and live
 * reconfiguration unit attentions (REPORTED LUNS DATA HAS CHANGED, CAPACITY DATA HAS CHANGED),
 * through ConfigService with a real ScsiDisk per storage object and nexus views as the
 * iSCSI fabric builds them.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "@/server/db";
import { ConfigService } from "@/server/config/service";
import { Engine } from "@/server/engine/core/engine";
import { ScsiDisk } from "@/server/engine/scsi/disk";
import { dispatchScsi } from "@/server/engine/scsi/dispatch";
import { itNexus, type NexusIdentity, type ScsiNexusView, type ScsiResult } from "@/server/engine/scsi/types";
import { tableCounts, tempDir, testOpenBackstore } from "./helpers";
import fs from "node:fs";

const T = "iqn.2024-01.com.example:live";
const A = "iqn.1994-05.com.redhat:alpha";
const B = "iqn.1994-05.com.redhat:beta";

let dir: string;
let db: ReturnType<typeof openDatabase>;
let engine: Engine;
let service: ConfigService;

beforeEach(() => {
  dir = tempDir();
  db = openDatabase(dir);
  engine = new Engine({ openBackstore: testOpenBackstore, createDevice: (info) => new ScsiDisk(info) });
  service = new ConfigService(db.db, db.sqlite, engine);
});
afterEach(async () => {
  await engine.shutdown();
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function nexus(initiator: string, tag = 1, isid = "400001370000"): ScsiNexusView {
  const identity: NexusIdentity = itNexus(initiator, isid, T, tag);
  return engine.tpg(T, tag).nexusView(identity);
}

/** What the fabric does at login: every visible LU learns the nexus (29h/00h queued). */
function login(view: ScsiNexusView): void {
  for (const lun of view.luns()) view.resolve(lun)!.device.nexusCreated?.(view.identity);
}

async function run(view: ScsiNexusView, lun: number, cdb: number[], readLength = 0): Promise<ScsiResult> {
  const buf = Buffer.alloc(16);
  Buffer.from(cdb).copy(buf);
  return dispatchScsi(
    { cdb: buf, lun, expectedDataTransferLength: readLength, read: readLength > 0, write: false, taskAttribute: 1, taskTag: 1 },
    view,
  );
}
const tur = (view: ScsiNexusView, lun: number) => run(view, lun, [0x00]);
const asc = (r: ScsiResult) => (r.sense ? [r.sense[2] & 0x0f, r.sense[12], r.sense[13]] : [r.status]);

/** Consumes pending unit attentions until TEST UNIT READY is GOOD; returns those seen. */
async function drain(view: ScsiNexusView, lun: number): Promise<number[][]> {
  const seen: number[][] = [];
  for (let i = 0; i < 20; i++) {
    const r = await tur(view, lun);
    if (r.status === 0) return seen;
    seen.push(asc(r));
  }
  throw new Error("unit attentions never cleared");
}

async function reportLuns(view: ScsiNexusView, lun = 0): Promise<number[]> {
  const r = await run(view, lun, [0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0], 4096);
  expect(r.status).toBe(0);
  const len = r.dataIn!.readUInt32BE(0);
  const out: number[] = [];
  for (let o = 8; o < 8 + len; o += 8) out.push(r.dataIn!.readUInt16BE(o) & 0x3fff);
  return out;
}

async function setup(opts: { demo?: boolean } = {}) {
  await service.createStorageObject({ plugin: "ramdisk", name: "r0", size: 4 << 20 });
  await service.createStorageObject({ plugin: "ramdisk", name: "r1", size: 4 << 20 });
  await service.createTarget({ wwn: T });
  await service.createLun(T, 1, "r0", { index: 0 });
  if (opts.demo) await service.setTpgAttributes(T, 1, { generate_node_acls: 1 });
}

describe("storage object attributes", () => {
  it("are refused while exported where LIO refuses them, naming the LUNs, and nothing changes", async () => {
    await setup();
    const before = { db: tableCounts(db), attrs: { ...engine.storageObject("ramdisk", "r0").attributes }, stored: service.config().storageObjects[0].attributes };
    for (const [k, v] of [["block_size", 4096], ["emulate_tas", 0], ["emulate_pr", 0], ["queue_depth", 64], ["optimal_sectors", 128], ["emulate_model_alias", 0], ["force_pr_aptpl", 1], ["emulate_ua_intlck_ctrl", 2]] as const) {
      const err = await service.setStorageObjectAttributes("ramdisk", "r0", { [k]: v }).catch((e) => e);
      expect(err.message, k).toContain(`${T} tpg1 lun0`);
      expect(err.field).toBe(k);
    }
    expect(engine.storageObject("ramdisk", "r0").attributes).toEqual(before.attrs);
    expect(service.config().storageObjects[0].attributes).toEqual(before.stored);
    expect(tableCounts(db)).toEqual(before.db);
  });

  it("are validated: ranges, read-only, fixed values, UNMAP prerequisites; all or none", async () => {
    await service.createStorageObject({ plugin: "ramdisk", name: "r0", size: 4 << 20 });
    const so = engine.storageObject("ramdisk", "r0");
    const cases: [Record<string, number>, RegExp][] = [
      [{ is_nonrot: 2 }, /0\.\.1/],
      [{ hw_max_sectors: 8 }, /read-only/],
      [{ emulate_rest_reord: 1 }, /can only be 0/],
      [{ pi_prot_type: 1 }, /protection information/],
      [{ block_size: 1000 }, /512, 4096/],
      [{ no_such_thing: 1 }, /unknown/],
      [{ emulate_write_cache: 1 }, /write_back/],
      [{ max_unmap_block_desc_count: 0, emulate_tpu: 1 }, /max_unmap_block_desc_count is 0/],
      [{ is_nonrot: 0, queue_depth: 0 }, /queue_depth/],
    ];
    for (const [attrs, re] of cases) {
      await expect(service.setStorageObjectAttributes("ramdisk", "r0", attrs), JSON.stringify(attrs)).rejects.toThrow(re);
    }
    expect(so.attributes.is_nonrot).toBe(1);
    expect(service.config().storageObjects[0].attributes.is_nonrot).toBe(1);
  });

  it("an accepted change is stored and read live by the SCSI layer (VPD B1h, B0h, B2h, READ CAPACITY(16), COMPARE AND WRITE)", async () => {
    await setup({ demo: true });
    const v = nexus(A);
    login(v);
    await drain(v, 0);
    const vpd = async (page: number) => (await run(v, 0, [0x12, 1, page, 0, 255, 0], 255)).dataIn!;
    expect((await vpd(0xb1)).readUInt16BE(4)).toBe(1); // ramdisk: non-rotating
    expect((await vpd(0xb2))[5] & 0x80).toBe(0);

    await service.createStorageObject({ plugin: "ramdisk", name: "r2", size: 4 << 20 });
    await service.setStorageObjectAttributes("ramdisk", "r2", { is_nonrot: 0, emulate_tpu: 1, max_unmap_lba_count: 1234, emulate_caw: 0 });
    expect(service.config().storageObjects.find((s) => s.name === "r2")!.attributes).toMatchObject({ is_nonrot: 0, emulate_tpu: 1, max_unmap_lba_count: 1234 });
    await service.createLun(T, 1, "r2", { index: 2 });
    await drain(v, 2);
    const b1 = (await run(v, 2, [0x12, 1, 0xb1, 0, 255, 0], 255)).dataIn!;
    expect(b1.readUInt16BE(4)).toBe(0);
    const b0 = (await run(v, 2, [0x12, 1, 0xb0, 0, 255, 0], 255)).dataIn!;
    expect(b0.readUInt32BE(20)).toBe(1234); // MAXIMUM UNMAP LBA COUNT
    expect(b0[5]).toBe(0); // MAXIMUM COMPARE AND WRITE LENGTH: emulate_caw=0
    const b2 = (await run(v, 2, [0x12, 1, 0xb2, 0, 255, 0], 255)).dataIn!;
    expect(b2[5] & 0x80).toBe(0x80); // LBPU
    const caw = await run(v, 2, [0x89, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect(asc(caw)).toEqual([0x05, 0x20, 0x00]); // INVALID COMMAND OPERATION CODE
  });

  it("identity: unit serial, vendor, product, revision show in INQUIRY and VPD 80h; refused while exported", async () => {
    await setup({ demo: true });
    const serial = "0b7e0c52-7c3e-4d8b-9d7e-2f1a3b4c5d6e";
    await expect(service.setStorageObjectIdentity("ramdisk", "r0", { wwn: serial })).rejects.toThrow(`exported (by ${T} tpg1 lun0)`);
    await service.setStorageObjectIdentity("ramdisk", "r1", { wwn: serial, vendorId: "ACME", productId: "FastDisk", revision: "2.1" });
    await expect(service.setStorageObjectIdentity("ramdisk", "r1", { vendorId: "TOO-LONG-VENDOR" })).rejects.toThrow(/1 to 8/);
    await service.createLun(T, 1, "r1", { index: 1 });
    const v = nexus(A);
    login(v);
    await drain(v, 1);
    const std = (await run(v, 1, [0x12, 0, 0, 0, 96, 0], 96)).dataIn!;
    expect(std.subarray(8, 16).toString("ascii")).toBe("ACME    ");
    expect(std.subarray(16, 32).toString("ascii")).toBe("FastDisk        ");
    expect(std.subarray(32, 36).toString("ascii")).toBe("2.1 ");
    const p80 = (await run(v, 1, [0x12, 1, 0x80, 0, 255, 0], 255)).dataIn!;
    expect(p80.subarray(4, 4 + p80.readUInt16BE(2)).toString("ascii").replace(/\0+$/, "")).toBe(serial);
    // Stored, and brought back at the next start.
    const so = service.config().storageObjects.find((s) => s.name === "r1")!;
    expect(so).toMatchObject({ wwn: serial, vendorId: "ACME", productId: "FastDisk", revision: "2.1" });
  });
});

describe("live reconfiguration: unit attentions", () => {
  it("adding and removing a LUN raises REPORTED LUNS DATA HAS CHANGED for demo-mode nexuses; REPORT LUNS follows", async () => {
    await setup({ demo: true });
    const v = nexus(A);
    login(v);
    expect(await drain(v, 0)).toEqual([[0x06, 0x29, 0x00]]);
    await service.createLun(T, 1, "r1", { index: 5 });
    expect(asc(await tur(v, 0))).toEqual([0x06, 0x3f, 0x0e]);
    expect((await tur(v, 0)).status).toBe(0);
    expect(await reportLuns(v)).toEqual([0, 5]);
    await run(v, 5, [0x00]); // the nexus now knows LUN 5
    await drain(v, 5);
    await service.deleteLun(T, 1, 5);
    expect(asc(await tur(v, 0))).toEqual([0x06, 0x3f, 0x0e]);
    expect(await reportLuns(v)).toEqual([0]);
  });

  it("a mapped LUN change only reaches that initiator's nexuses; other TPGs are untouched", async () => {
    await setup();
    await service.createNodeAcl(T, 1, A);
    await service.createNodeAcl(T, 1, B);
    const a = nexus(A);
    const b = nexus(B);
    login(a);
    login(b);
    await drain(a, 0);
    await drain(b, 0);
    await service.createLun(T, 1, "r1", { index: 1, addMappedLuns: false });
    // Nobody's inventory changed: no unit attention.
    expect((await tur(a, 0)).status).toBe(0);
    expect((await tur(b, 0)).status).toBe(0);
    await service.createMappedLun(T, 1, A, { index: 7, tpgLun: 1 });
    expect(asc(await tur(a, 0))).toEqual([0x06, 0x3f, 0x0e]);
    expect((await tur(b, 0)).status).toBe(0);
    expect(await reportLuns(a)).toEqual([0, 7]);
    expect(await reportLuns(b)).toEqual([0]);
    await service.deleteMappedLun(T, 1, A, 7);
    expect(asc(await tur(a, 0))).toEqual([0x06, 0x3f, 0x0e]);
    expect((await tur(b, 0)).status).toBe(0);
  });

  it("growing a ramdisk or fileio raises CAPACITY DATA HAS CHANGED and READ CAPACITY shows it; shrinking is refused", async () => {
    await setup({ demo: true });
    const file = `${dir}/f0.img`;
    await service.createStorageObject({ plugin: "fileio", name: "f0", dev: file, size: 4 << 20 });
    await service.createLun(T, 1, "f0", { index: 1 });
    const v = nexus(A);
    login(v);
    await drain(v, 0);
    await drain(v, 1);
    await service.resizeStorageObject("ramdisk", "r0", 8 << 20);
    await service.resizeStorageObject("fileio", "f0", 6 << 20);
    expect(fs.statSync(file).size).toBe(6 << 20);
    for (const lun of [0, 1]) expect(asc(await tur(v, lun))).toEqual([0x06, 0x2a, 0x09]);
    const cap = (await run(v, 0, [0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], 32)).dataIn!;
    expect(Number(cap.readBigUInt64BE(0)) + 1).toBe((8 << 20) / 512);
    expect(service.config().storageObjects.find((s) => s.name === "r0")!.size).toBe(8 << 20);
    const err = await service.resizeStorageObject("ramdisk", "r0", 1 << 20).catch((e) => e);
    expect(err.message).toMatch(/cannot shrink/);
    expect(engine.storageObject("ramdisk", "r0").sizeBytes).toBe(8 << 20);
  });

  it("deleting an exported storage object is refused naming the LUNs", async () => {
    await setup();
    const err = await service.deleteStorageObject("ramdisk", "r0").catch((e) => e);
    expect(err.message).toContain(`exported by ${T} tpg1 lun0`);
    expect(engine.storageObjects.has("ramdisk/r0")).toBe(true);
  });
});

describe("ACLs", () => {
  it("auto_add_mapped_luns (targetcli default) maps every TPG LUN into a new ACL and a new LUN into every ACL", async () => {
    await setup();
    await service.createLun(T, 1, "r1", { index: 3 });
    const acl = await service.createNodeAcl(T, 1, A);
    expect(acl.mappedLuns).toEqual([0, 3]);
    await service.createStorageObject({ plugin: "ramdisk", name: "r2", size: 1 << 20 });
    await service.createMappedLun(T, 1, A, { index: 4, tpgLun: 3 });
    // LUN 4 is taken in A's ACL: the lowest free index is used.
    const lun = await service.createLun(T, 1, "r2", { index: 4 });
    expect(lun.mapped).toEqual([{ initiatorName: A, index: 1 }]);
    expect(tableCounts(db).mapped_luns).toBe(4);
    await service.setSettings({ autoAddMappedLuns: false });
    expect((await service.createNodeAcl(T, 1, B)).mappedLuns).toEqual([]);
    expect(service.settings()).toMatchObject({ autoAddMappedLuns: false });
  });

  it("tags, cmdsn_depth and attributes are validated and stored; write_protect switches DATA PROTECT", async () => {
    await setup();
    await service.createNodeAcl(T, 1, A, { aclTag: "web" });
    await expect(service.updateNodeAcl(T, 1, A, { attributes: { nopin_timeout: 2 } })).rejects.toThrow(/3\.\.60/);
    await expect(service.updateNodeAcl(T, 1, A, { aclTag: "bad.tag" })).rejects.toThrow(/no '\.'/);
    const r = await service.updateNodeAcl(T, 1, A, { cmdsnDepth: 16, attributes: { nopin_timeout: 30, nopin_response_timeout: 45 }, aclTag: null });
    expect(r).toMatchObject({ aclTag: null, cmdsnDepth: 16, attributes: { nopin_timeout: 30, nopin_response_timeout: 45 } });
    expect(service.config().targets[0].tpgs[0].nodeAcls[0]).toMatchObject({ cmdsnDepth: 16, attributes: { nopin_timeout: 30 } });
    expect(service.config().targets[0].tpgs[0].nodeAcls[0].aclTag).toBeUndefined();

    const v = nexus(A);
    login(v);
    await drain(v, 0);
    const write10 = [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    const w = (view: ScsiNexusView) =>
      dispatchScsi({ cdb: Buffer.from([...write10, 0, 0, 0, 0, 0, 0]), lun: 0, expectedDataTransferLength: 512, read: false, write: true, dataOut: Buffer.alloc(512), taskAttribute: 1, taskTag: 2 }, view);
    expect((await w(v)).status).toBe(0);
    await service.setMappedLunWriteProtect(T, 1, A, 0, true);
    expect(asc(await w(v))).toEqual([0x07, 0x27, 0x00]);
    expect(service.config().targets[0].tpgs[0].nodeAcls[0].mappedLuns[0].writeProtect).toBe(true);
  });
});

describe("TPG attributes and parameters", () => {
  it("parameters are validated by type and range; authentication toggles AuthMethod as LIO does", async () => {
    await setup();
    const bad: Record<string, string>[] = [
      { MaxBurstLength: "100" },
      { MaxBurstLength: "abc" },
      { InitialR2T: "maybe" },
      { HeaderDigest: "MD5" },
      { MaxConnections: "4" },
      { ErrorRecoveryLevel: "2" },
      { NoSuchKey: "1" },
    ];
    for (const p of bad) await expect(service.setTpgParameters(T, 1, p), JSON.stringify(p)).rejects.toThrow(/iSCSI parameter/);
    await service.setTpgParameters(T, 1, { MaxBurstLength: "131072", HeaderDigest: "None", TargetAlias: "Portico disk" });
    expect(engine.tpg(T, 1).parameters).toMatchObject({ MaxBurstLength: "131072", HeaderDigest: "None", TargetAlias: "Portico disk" });
    expect(service.config().targets[0].tpgs[0].parameters).toMatchObject({ MaxBurstLength: "131072" });
    await service.setTpgAttributes(T, 1, { authentication: 1 });
    expect(engine.tpg(T, 1).parameters.AuthMethod).toBe("CHAP");
    expect(service.config().targets[0].tpgs[0].parameters.AuthMethod).toBe("CHAP");
    await service.setTpgAttributes(T, 1, { authentication: 0 });
    expect(engine.tpg(T, 1).parameters.AuthMethod).toBe("CHAP,None");
    await expect(service.setTpgAttributes(T, 1, { login_timeout: 4 })).rejects.toThrow(/5\.\.30/);
    await service.setTpgAttributes(T, 1, { generate_node_acls: 1 });
    expect(engine.tpg(T, 1).attributes.cache_dynamic_acls).toBe(1);
  });
});

describe("nexus views", () => {
  it("share one LUN table per initiator until the configuration changes, and follow every change", async () => {
    await setup();
    await service.createLun(T, 1, "r1", { index: 1 });
    await service.createNodeAcl(T, 1, A, { addMappedLuns: false });
    await service.createNodeAcl(T, 1, B, { addMappedLuns: false });
    await service.createMappedLun(T, 1, A, { index: 0, tpgLun: 0 });
    await service.createMappedLun(T, 1, B, { index: 5, tpgLun: 1 });
    const a1 = nexus(A, 1, "400001370001");
    const a2 = nexus(A, 1, "400001370002");
    const b = nexus(B);
    expect(a1.luns()).toEqual([0]);
    // Two sessions of one initiator read the same table; another initiator its own.
    expect(a2.luns()).toBe(a1.luns());
    expect(b.luns()).toEqual([5]);
    expect(b.resolve(5)!.device).toBe(engine.storageObject("ramdisk", "r1").device);
    expect(b.resolve(0)).toBeUndefined();

    // A mapping added for A shows in both of its views at once, and not in B's.
    await service.createMappedLun(T, 1, A, { index: 3, tpgLun: 1 });
    expect(a1.luns()).toEqual([0, 3]);
    expect(a2.luns()).toEqual([0, 3]);
    expect(a1.resolve(3)!.device).toBe(engine.storageObject("ramdisk", "r1").device);
    expect(b.luns()).toEqual([5]);

    // Removed: gone from the views; a TPG LUN deleted under a mapping resolves to nothing.
    await service.deleteMappedLun(T, 1, A, 0);
    expect(a1.luns()).toEqual([3]);
    expect(a1.resolve(0)).toBeUndefined();
    await service.deleteLun(T, 1, 1);
    expect(a2.resolve(3)).toBeUndefined();
    expect(b.resolve(5)).toBeUndefined();
  });

  it("in demo mode every initiator without an ACL sees every TPG LUN, with demo_mode_write_protect as it is now", async () => {
    await setup({ demo: true });
    const v = nexus(A);
    expect(v.luns()).toEqual([0]);
    expect(v.resolve(0)!.binding.writeProtect).toBe(true); // LIO's default demo_mode_write_protect=1
    await service.setTpgAttributes(T, 1, { demo_mode_write_protect: 0 });
    expect(v.resolve(0)!.binding.writeProtect).toBe(false);
    expect(nexus(B).resolve(0)!.binding.writeProtect).toBe(false);
    await service.setTpgAttributes(T, 1, { demo_mode_write_protect: 1 });
    expect(v.resolve(0)!.binding.writeProtect).toBe(true);
    await service.createLun(T, 1, "r1", { index: 4 });
    expect(v.luns()).toEqual([0, 4]);
    expect(nexus(B).luns()).toEqual([0, 4]);
  });
});
