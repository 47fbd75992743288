/**
 * ALUA on the SCSI side (issue 13): the per-state command table (SPC-4 §5.16.2), REPORT
 * TARGET PORT GROUPS in both formats, SET TARGET PORT GROUPS, the TPGS field and VPD 0x83
 * target port group designator, and 2Ah/06h on the other nexuses. Through the real engine
 * model (two TPGs exporting one storage object) and ScsiDisk, as the fabric calls them.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { openBackstore } from "@/server/engine/backstores";
import { Engine } from "@/server/engine/core/engine";
import type { StorageObject, Tpg } from "@/server/engine/core/model";
import { ALUA_ACCESS_TABLE, AluaState, aluaRefusal, decodeRtpg, encodeRtpg, encodeStpg, parseStpg } from "@/server/engine/scsi/alua";
import { dispatchScsi } from "@/server/engine/scsi/dispatch";
import { ScsiDisk } from "@/server/engine/scsi/disk";
import { parseSense } from "@/server/engine/scsi/sense";
import { itNexus, ScsiStatus, type NexusIdentity, type ScsiNexusView, type ScsiResult, type ScsiTask } from "@/server/engine/scsi/types";

const IQN = "iqn.2003-01.org.example:alua";
const NOT_READY = 0x2;
const ILLEGAL_REQUEST = 0x5;
const UNIT_ATTENTION = 0x6;

function cdbOf(bytes: number[]): Buffer {
  const b = Buffer.alloc(16);
  Buffer.from(bytes).copy(b);
  return b;
}
function task(bytes: number[], dataOut?: Buffer): ScsiTask {
  return { cdb: cdbOf(bytes), lun: 0, expectedDataTransferLength: dataOut?.length ?? 65536, read: !dataOut, write: !!dataOut, dataOut, taskAttribute: 1, taskTag: 1 };
}
const sense = (r: ScsiResult) => {
  if (!r.sense) throw new Error(`no sense (status ${r.status})`);
  const s = parseSense(r.sense);
  return [s.key, s.asc, s.ascq];
};
const rtpg = (ext: boolean, alloc = 1024) => [0xa3, 0x0a | (ext ? 0x20 : 0), 0, 0, 0, 0, (alloc >>> 24) & 0xff, (alloc >>> 16) & 0xff, (alloc >>> 8) & 0xff, alloc & 0xff, 0, 0];
const stpg = (len: number) => [0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, len, 0, 0];
const READ10 = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0];
const WRITE10 = [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0];

let engine: Engine;
let so: StorageObject;
let tpg1: Tpg;
let tpg2: Tpg;

function nexus(tpg: Tpg, initiator = "iqn.1994-05.com.example:host1"): ScsiNexusView {
  const isid = "400001370000";
  const id: NexusIdentity = itNexus(initiator, isid, IQN, tpg.tag);
  return tpg.nexusView(id);
}
async function exec(view: ScsiNexusView, t: ScsiTask): Promise<ScsiResult> {
  return dispatchScsi(t, view);
}
/** Logs a nexus in (29h/00h) and consumes that unit attention. */
async function login(view: ScsiNexusView): Promise<ScsiNexusView> {
  so.device.nexusCreated?.(view.identity);
  const r = await exec(view, task([0x00, 0, 0, 0, 0, 0]));
  expect(sense(r)).toEqual([UNIT_ATTENTION, 0x29, 0x00]);
  return view;
}

beforeEach(async () => {
  engine = new Engine({ openBackstore, createDevice: (info) => new ScsiDisk(info) });
  so = await engine.createStorageObject({ plugin: "ramdisk", name: "lu0", size: 1 << 20 });
  engine.createTarget(IQN);
  tpg1 = engine.createTpg(IQN, 1, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0 } });
  tpg2 = engine.createTpg(IQN, 2, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0 } });
  engine.createLun(IQN, 1, "ramdisk/lu0", { index: 0 });
  engine.createLun(IQN, 2, "ramdisk/lu0", { index: 0 });
  engine.createAluaGroup("ramdisk", "lu0", "sb", 7);
  engine.setLunAluaGroup(IQN, 2, 0, "sb");
});

describe("the access-state table (SPC-4 §5.16.2, LIO core_alua_state_*)", () => {
  const cases: [string, number[], Record<number, [number, number] | "ok">][] = [
    // command, CDB, per state: refusal ASC/ASCQ or ok
    ["TEST UNIT READY", [0x00], { 2: [0x04, 0x0b], 3: [0x04, 0x0c], 15: [0x04, 0x0a], 14: [0x04, 0x12] }],
    ["READ(10)", READ10, { 2: [0x04, 0x0b], 3: [0x04, 0x0c], 15: [0x04, 0x0a], 14: [0x04, 0x12], 1: "ok" }],
    ["WRITE(10)", WRITE10, { 2: [0x04, 0x0b], 3: [0x04, 0x0c], 15: [0x04, 0x0a], 1: "ok" }],
    ["INQUIRY", [0x12], { 2: "ok", 3: "ok", 15: "ok", 14: [0x04, 0x12] }],
    ["REPORT LUNS", [0xa0], { 2: "ok", 3: "ok", 15: "ok" }],
    ["REQUEST SENSE", [0x03], { 2: "ok", 3: "ok", 15: "ok" }],
    ["READ CAPACITY(10)", [0x25], { 2: "ok", 3: [0x04, 0x0c], 15: [0x04, 0x0a] }],
    ["READ CAPACITY(16)", [0x9e, 0x10], { 2: "ok", 3: [0x04, 0x0c] }],
    ["GET LBA STATUS", [0x9e, 0x12], { 2: [0x04, 0x0b] }],
    ["MODE SENSE(6)", [0x1a], { 2: "ok", 3: [0x04, 0x0c] }],
    ["LOG SENSE", [0x4d], { 2: "ok", 3: [0x04, 0x0c] }],
    ["PERSISTENT RESERVE IN", [0x5e], { 2: "ok", 3: [0x04, 0x0c], 15: [0x04, 0x0a] }],
    ["REPORT TARGET PORT GROUPS", [0xa3, 0x0a], { 2: "ok", 3: "ok", 15: "ok", 14: [0x04, 0x12] }],
    ["REPORT SUPPORTED OPERATION CODES", [0xa3, 0x0c], { 2: [0x04, 0x0b], 3: [0x04, 0x0c] }],
    ["SET TARGET PORT GROUPS", [0xa4, 0x0a], { 2: "ok", 3: "ok", 15: [0x04, 0x0a], 14: [0x04, 0x12] }],
    ["SYNCHRONIZE CACHE(10)", [0x35], { 2: [0x04, 0x0b], 3: [0x04, 0x0c] }],
  ];
  for (const [name, bytes, expected] of cases) {
    it(`${name}: ${Object.entries(expected).map(([s, e]) => `${s}→${e === "ok" ? "ok" : e.map((x) => x.toString(16)).join("/")}`).join(" ")}`, () => {
      for (const [state, e] of Object.entries(expected)) {
        const got = aluaRefusal(Number(state), cdbOf(bytes));
        expect(got === undefined ? "ok" : [...got]).toEqual(e);
      }
      expect(aluaRefusal(AluaState.ACTIVE_OPTIMIZED, cdbOf(bytes))).toBeUndefined();
    });
  }

  it("has a row for every inaccessible state and none for the active ones", () => {
    expect([...ALUA_ACCESS_TABLE.keys()].sort((a, b) => a - b)).toEqual([AluaState.STANDBY, AluaState.UNAVAILABLE, AluaState.OFFLINE, AluaState.TRANSITIONING]);
  });

  it("is what the disk applies per port: READ/WRITE through the Standby port are refused, through the other served", async () => {
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "sb", { alua_access_state: AluaState.STANDBY });
    const a = await login(nexus(tpg1));
    const b = await login(nexus(tpg2));
    expect((await exec(a, task(READ10))).status).toBe(ScsiStatus.GOOD);
    expect((await exec(a, task(WRITE10, Buffer.alloc(512, 1)))).status).toBe(ScsiStatus.GOOD);
    expect(sense(await exec(b, task(READ10)))).toEqual([NOT_READY, 0x04, 0x0b]);
    expect(sense(await exec(b, task(WRITE10, Buffer.alloc(512, 1))))).toEqual([NOT_READY, 0x04, 0x0b]);
    expect((await exec(b, task([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]))).status).toBe(ScsiStatus.GOOD);
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "sb", { alua_access_state: AluaState.UNAVAILABLE });
    expect(sense(await exec(b, task(READ10)))).toEqual([UNIT_ATTENTION, 0x2a, 0x06]);
    expect(sense(await exec(b, task(READ10)))).toEqual([NOT_READY, 0x04, 0x0c]);
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "sb", { nonop_delay_msecs: 0, alua_access_state: AluaState.ACTIVE_NON_OPTIMIZED });
    expect(sense(await exec(b, task(READ10)))).toEqual([UNIT_ATTENTION, 0x2a, 0x06]);
    expect((await exec(b, task(READ10))).status).toBe(ScsiStatus.GOOD);
  });

  it("Active/Non-optimized delays each command by nonop_delay_msecs", async () => {
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "sb", { nonop_delay_msecs: 120, alua_access_state: AluaState.ACTIVE_NON_OPTIMIZED });
    const b = await login(nexus(tpg2));
    const t0 = Date.now();
    expect((await exec(b, task(READ10))).status).toBe(ScsiStatus.GOOD);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(110);
  });

  it("Transitioning for trans_delay_msecs (04h/0Ah), then the new state, each announced by 2Ah/06h", async () => {
    const b = await login(nexus(tpg2));
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "sb", { trans_delay_msecs: 200 });
    const change = engine.setAluaGroupAttributes("ramdisk", "lu0", "sb", { alua_access_state: AluaState.STANDBY });
    await new Promise((r) => setTimeout(r, 20));
    expect(sense(await exec(b, task(READ10)))).toEqual([UNIT_ATTENTION, 0x2a, 0x06]);
    expect(sense(await exec(b, task(READ10)))).toEqual([NOT_READY, 0x04, 0x0a]);
    await change;
    expect(sense(await exec(b, task(READ10)))).toEqual([UNIT_ATTENTION, 0x2a, 0x06]);
    expect(sense(await exec(b, task(READ10)))).toEqual([NOT_READY, 0x04, 0x0b]);
  });
});

describe("REPORT TARGET PORT GROUPS", () => {
  it("lists every group with members: state, PREF, supported states, status and relative target port ids", async () => {
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "sb", { preferred: 1, alua_support_offline: 0, alua_access_state: AluaState.STANDBY });
    const a = await login(nexus(tpg1));
    const r = await exec(a, task(rtpg(false)));
    expect(r.status).toBe(ScsiStatus.GOOD);
    const d = r.dataIn!;
    expect(d.readUInt32BE(0)).toBe(d.length - 4);
    expect(d.length).toBe(4 + 2 * (8 + 4));
    expect(decodeRtpg(d)).toEqual({
      extended: false,
      implicitTransSecs: 0,
      groups: [
        { id: 0, state: AluaState.ACTIVE_OPTIMIZED, preferred: false, supported: 0xcf, status: 0, ports: [tpg1.relativeTargetPortId] },
        { id: 7, state: AluaState.STANDBY, preferred: true, supported: 0x8f, status: 2, ports: [tpg2.relativeTargetPortId] },
      ],
    });
    // Byte for byte, the second descriptor: PREF|state, SUPPORTED, id, reserved, status, vendor, count, port.
    expect([...d.subarray(16, 28)]).toEqual([0x82, 0x8f, 0x00, 0x07, 0, 0x02, 0, 1, 0, 0, 0, tpg2.relativeTargetPortId]);
  });

  it("extended header: format type 001b and the implicit transition time of the asking port's group; empty groups are left out", async () => {
    engine.createAluaGroup("ramdisk", "lu0", "empty", 9);
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "sb", { implicit_trans_secs: 42 });
    const b = await login(nexus(tpg2));
    const d = (await exec(b, task(rtpg(true)))).dataIn!;
    expect(d[4]).toBe(0x10);
    expect(d[5]).toBe(42);
    expect(d.readUInt32BE(0)).toBe(d.length - 4);
    expect(decodeRtpg(d).groups.map((g) => g.id)).toEqual([0, 7]);
    const a = await login(nexus(tpg1));
    expect((await exec(a, task(rtpg(true)))).dataIn![5]).toBe(0);
  });

  it("truncates to the allocation length, keeping the full RETURN DATA LENGTH", async () => {
    const a = await login(nexus(tpg1));
    const d = (await exec(a, task(rtpg(false, 6)))).dataIn!;
    expect(d.length).toBe(6);
    expect(d.readUInt32BE(0)).toBe(2 * 12);
  });

  it("encodes and decodes symmetrically", () => {
    const groups = [{ id: 65535, state: 0xf, preferred: true, supported: 0x01, status: 1, ports: [1, 2, 65535] }];
    expect(decodeRtpg(encodeRtpg(groups, true, 300)).groups).toEqual(groups);
    expect(encodeRtpg(groups, true, 300)[5]).toBe(255);
  });
});

describe("SET TARGET PORT GROUPS", () => {
  it("changes another group's state; every nexus but the issuer's gets 2Ah/06h", async () => {
    const a = await login(nexus(tpg1));
    const b = await login(nexus(tpg2));
    const other = await login(nexus(tpg1, "iqn.1994-05.com.example:host2"));
    const list = encodeStpg([{ state: AluaState.STANDBY, id: 0 }, { state: AluaState.ACTIVE_OPTIMIZED, id: 7 }]);
    expect(parseStpg(list)).toEqual([{ state: 2, id: 0, offset: 4 }, { state: 0, id: 7, offset: 8 }]);
    const r = await exec(a, task(stpg(list.length), list));
    expect(r.status).toBe(ScsiStatus.GOOD);
    expect(so.defaultAluaGroup.attributes).toMatchObject({ alua_access_state: AluaState.STANDBY, alua_access_status: 1 });
    // Already Active/Optimized: nothing to do, status untouched (LIO core_alua_do_transition_tg_pt).
    expect(so.aluaGroups.get("sb")!.attributes).toMatchObject({ alua_access_state: AluaState.ACTIVE_OPTIMIZED, alua_access_status: 0 });
    // The issuer sees the new state at once (no unit attention), the others are told first.
    expect(sense(await exec(a, task(READ10)))).toEqual([NOT_READY, 0x04, 0x0b]);
    expect(sense(await exec(b, task(READ10)))).toEqual([UNIT_ATTENTION, 0x2a, 0x06]);
    expect((await exec(b, task(READ10))).status).toBe(ScsiStatus.GOOD);
    expect(sense(await exec(other, task(READ10)))).toEqual([UNIT_ATTENTION, 0x2a, 0x06]);
  });

  it("is INVALID COMMAND OPERATION CODE when the port's group does not allow explicit ALUA", async () => {
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "default_tg_pt_gp", { alua_access_type: 1 });
    const a = await login(nexus(tpg1));
    const list = encodeStpg([{ state: AluaState.STANDBY, id: 7 }]);
    expect(sense(await exec(a, task(stpg(list.length), list)))).toEqual([ILLEGAL_REQUEST, 0x20, 0x00]);
    expect(so.aluaGroups.get("sb")!.state).toBe(AluaState.ACTIVE_OPTIMIZED);
    // ... and standard INQUIRY's TPGS follows the access type: 01b here, 11b through the other port.
    expect((await exec(a, task([0x12, 0, 0, 0, 96, 0]))).dataIn![5] & 0x30).toBe(0x10);
    const b = await login(nexus(tpg2));
    expect((await exec(b, task([0x12, 0, 0, 0, 96, 0]))).dataIn![5] & 0x30).toBe(0x30);
  });

  it("refuses unknown groups, Transitioning and unsupported states, changing nothing", async () => {
    const a = await login(nexus(tpg1));
    await engine.setAluaGroupAttributes("ramdisk", "lu0", "sb", { alua_support_unavailable: 0 });
    for (const descs of [
      [{ state: AluaState.STANDBY, id: 7 }, { state: AluaState.STANDBY, id: 99 }],
      [{ state: AluaState.TRANSITIONING, id: 7 }],
      [{ state: AluaState.UNAVAILABLE, id: 7 }],
      [{ state: AluaState.LBA_DEPENDENT, id: 7 }],
    ]) {
      const list = encodeStpg(descs);
      expect(sense(await exec(a, task(stpg(list.length), list)))).toEqual([ILLEGAL_REQUEST, 0x26, 0x00]);
    }
    expect(so.aluaGroups.get("sb")!.state).toBe(AluaState.ACTIVE_OPTIMIZED);
    expect(sense(await exec(a, task(stpg(2), Buffer.alloc(2))))).toEqual([ILLEGAL_REQUEST, 0x1a, 0x00]);
    expect((await exec(a, task(stpg(0)))).status).toBe(ScsiStatus.GOOD);
  });

  it("Offline names a relative target port: that port answers 04h/12h to everything", async () => {
    const a = await login(nexus(tpg1));
    const b = await login(nexus(tpg2));
    const list = encodeStpg([{ state: AluaState.OFFLINE, id: tpg2.relativeTargetPortId }]);
    expect((await exec(a, task(stpg(list.length), list))).status).toBe(ScsiStatus.GOOD);
    expect(sense(await exec(b, task(READ10)))).toEqual([UNIT_ATTENTION, 0x2a, 0x06]);
    expect(sense(await exec(b, task([0x12, 0, 0, 0, 96, 0])))).toEqual([NOT_READY, 0x04, 0x12]);
    // Moving the LUN to a group again brings the port back online (as re-attaching it does in LIO).
    engine.setLunAluaGroup(IQN, 2, 0, "default_tg_pt_gp");
    expect((await exec(b, task([0x12, 0, 0, 0, 96, 0]))).status).toBe(ScsiStatus.GOOD);
  });
});

describe("VPD 0x83", () => {
  it("carries the relative target port and the target port group of the port asked", async () => {
    for (const [tpg, group] of [[tpg1, 0], [tpg2, 7]] as const) {
      const v = await login(nexus(tpg));
      const page = (await exec(v, task([0x12, 1, 0x83, 0, 255, 0]))).dataIn!;
      const designators = new Map<number, Buffer>();
      for (let off = 4; off < page.length; off += 4 + page[off + 3]) {
        if (((page[off + 1] >> 4) & 0x3) === 1) designators.set(page[off + 1] & 0x0f, page.subarray(off + 4, off + 4 + page[off + 3]));
      }
      expect(designators.get(0x4)!.readUInt16BE(2)).toBe(tpg.relativeTargetPortId);
      expect(designators.get(0x5)!.readUInt16BE(2)).toBe(group);
    }
  });
});
