/**
 * ALUA against the real appliance (issue 13): one LU exported through two TPGs of one target,
 * each with its own portal and in its own ALUA group, restored from a saveconfig.json with
 * `alua_tpgs` as targetcli writes it. Through the project's initiator (an sg_rtpg-equivalent
 * REPORT TARGET PORT GROUPS, READ/WRITE per state, SET TARGET PORT GROUPS) and libiscsi: the
 * second group set to Standby, Active/Non-optimized and Unavailable from the API, each change
 * seen as 2Ah/06h on the other session.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AluaState, decodeRtpg, encodeStpg } from "../../server/engine/scsi/alua";
import { IscsiClient, type CommandResult } from "../support/iscsi-client";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, type PorticoProcess } from "../support/portico";
import { apiClient } from "./monitor-support";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.alua00000001";
const INITIATOR = "iqn.2024-01.org.portico.test:alua";
const SO = { plugin: "ramdisk" as const, name: "alua0" };
let dataDir: string;
let ports: [number, number];
let server: PorticoProcess;
let api: ReturnType<typeof apiClient>;
let a: IscsiClient; // through tpg1 (default_tg_pt_gp)
let b: IscsiClient; // through tpg2 (group "second")

const ascOf = (r: CommandResult) => (r.sense ? [r.sense[2] & 0x0f, r.sense[12], r.sense[13]] : [r.status]);
const GOOD = [0];
const ASYMMETRIC_ACCESS_STATE_CHANGED = [0x6, 0x2a, 0x06];

function rtpgCdb(extended: boolean): Buffer {
  const cdb = Buffer.alloc(12);
  cdb[0] = 0xa3;
  cdb[1] = 0x0a | (extended ? 0x20 : 0);
  cdb.writeUInt32BE(1024, 6);
  return cdb;
}
async function rtpg(c: IscsiClient, extended = false) {
  const r = await c.command(rtpgCdb(extended), { readLength: 1024 });
  expect(r.status, r.sense?.toString("hex")).toBe(0);
  return decodeRtpg(r.data);
}
const read = (c: IscsiClient) => c.read10(0, 1);
const write = (c: IscsiClient) => c.write10(0, Buffer.alloc(512, 0x5a));
async function tur(c: IscsiClient): Promise<number[]> {
  return ascOf(await c.command(Buffer.from([0, 0, 0, 0, 0, 0])));
}
async function session(port: number, isid: string): Promise<IscsiClient> {
  const c = await IscsiClient.connect(port);
  c.isid = isid;
  const r = await c.login({ initiatorName: INITIATOR, targetName: IQN });
  expect([r.statusClass, r.statusDetail]).toEqual([0, 0]);
  expect(await tur(c)).toEqual([0x6, 0x29, 0x00]); // POWER ON, RESET first
  return c;
}
const libiscsiUrl = (port: number) => `iscsi://127.0.0.1:${port}/${IQN}/0`;

function saveconfig(): object {
  const group = (name: string, id: number) => ({
    alua_access_state: 0, alua_access_status: 0, alua_access_type: 3, alua_support_active_nonoptimized: 1, alua_support_active_optimized: 1,
    alua_support_offline: 1, alua_support_standby: 1, alua_support_transitioning: 1, alua_support_unavailable: 1, alua_write_metadata: 0,
    implicit_trans_secs: 10, name, nonop_delay_msecs: 0, preferred: id === 0 ? 1 : 0, tg_pt_gp_id: id, trans_delay_msecs: 0,
  });
  return {
    fabric_modules: [],
    storage_objects: [{ alua_tpgs: [group("default_tg_pt_gp", 0), group("second", 2)], attributes: { block_size: 512 }, name: SO.name, plugin: SO.plugin, size: 8 * 1024 * 1024, wwn: "7a1e0c2b-3d4f-4e5a-8b6c-1d2e3f4a5b6c" }],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [1, 2].map((tag) => ({
          tag,
          enable: true,
          attributes: { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0 },
          parameters: {},
          luns: [{ index: 0, alias: `aluaport0${tag}`, alua_tg_pt_gp_name: tag === 1 ? "default_tg_pt_gp" : "second", storage_object: `/backstores/ramdisk/${SO.name}` }],
          portals: [{ ip_address: "127.0.0.1", port: ports[tag - 1], iser: false, offload: false }],
          node_acls: [],
        })),
      },
    ],
  };
}

beforeAll(async () => {
  dataDir = makeDataDir("portico-alua-");
  ports = [await freePort(), await freePort()];
  const file = path.join(dataDir, "alua-saveconfig.json");
  writeFileSync(file, JSON.stringify(saveconfig(), null, 2));
  const restored = portico(dataDir, ["restoreconfig", file]);
  expect(restored.status, restored.stderr).toBe(0);
  expect(restored.stderr).not.toContain("alua");
  server = await startPortico({ dataDir });
  await waitForPort(ports[0]);
  await waitForPort(ports[1]);
  api = apiClient(server.url, dataDir);
  a = await session(ports[0], "400001370001");
  b = await session(ports[1], "400001370002");
}, 120_000);

afterAll(async () => {
  a?.close();
  b?.close();
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

describe("ALUA through two TPGs of one target", () => {
  it("REPORT TARGET PORT GROUPS shows both groups, each with its port, in both formats, from either path", async () => {
    const rtpis = (await api.alua.list.query(SO)).groups.map((g) => g.members.map((m) => m.relativeTargetPortId));
    expect(rtpis.map((r) => r.length)).toEqual([1, 1]);
    for (const c of [a, b]) {
      const plain = await rtpg(c);
      expect(plain.groups).toEqual([
        { id: 0, state: AluaState.ACTIVE_OPTIMIZED, preferred: true, supported: 0xcf, status: 0, ports: rtpis[0] },
        { id: 2, state: AluaState.ACTIVE_OPTIMIZED, preferred: false, supported: 0xcf, status: 0, ports: rtpis[1] },
      ]);
      const ext = await rtpg(c, true);
      expect(ext.extended).toBe(true);
      expect(ext.implicitTransSecs).toBe(10);
      expect(ext.groups).toEqual(plain.groups);
    }
    // Standard INQUIRY: TPGS 11b (implicit and explicit), as alua_access_type 3.
    const inq = await a.command(Buffer.from([0x12, 0, 0, 0, 96, 0]), { readLength: 96 });
    expect(inq.data[5] & 0x30).toBe(0x30);
  });

  it("Standby: READ and WRITE through tpg2 get NOT READY 04h/0Bh after 2Ah/06h; tpg1 keeps serving; libiscsi sees the same", async () => {
    await api.alua.setState.mutate({ ...SO, group: "second", state: AluaState.STANDBY });
    expect(ascOf(await read(b))).toEqual(ASYMMETRIC_ACCESS_STATE_CHANGED);
    expect(ascOf(await read(b))).toEqual([0x2, 0x04, 0x0b]);
    expect(ascOf(await write(b))).toEqual([0x2, 0x04, 0x0b]);
    expect(await tur(b)).toEqual([0x2, 0x04, 0x0b]);
    expect(ascOf(await read(a))).toEqual(ASYMMETRIC_ACCESS_STATE_CHANGED); // the other session is told too
    expect(ascOf(await write(a))).toEqual(GOOD);
    expect(ascOf(await read(a))).toEqual(GOOD);
    expect((await rtpg(b)).groups.map((g) => [g.id, g.state, g.status])).toEqual([[0, 0, 0], [2, AluaState.STANDBY, 2]]);

    // libiscsi: its connect ends with TEST UNIT READY, which Standby refuses (as LIO does): the tool
    // reports exactly NOT READY 04h/0Bh on the standby path, and works on the active one.
    const standby = sh("iscsi-readcapacity16", ["-i", INITIATOR, libiscsiUrl(ports[1])], 30_000);
    expect(standby.status).not.toBe(0);
    expect(`${standby.stdout}${standby.stderr}`).toMatch(/NOT READY.*0x040b/);
    const active = sh("iscsi-readcapacity16", ["-i", INITIATOR, libiscsiUrl(ports[0])], 30_000);
    expect(active.status, active.stderr).toBe(0);
    expect(active.stdout).toMatch(/Total size:\s*8388608/);
  });

  it("Active/Non-optimized: both paths serve READ and WRITE; libiscsi's multipath IO tests pass over both", async () => {
    await api.alua.setState.mutate({ ...SO, group: "second", state: AluaState.ACTIVE_NON_OPTIMIZED });
    expect(ascOf(await read(b))).toEqual(ASYMMETRIC_ACCESS_STATE_CHANGED);
    expect(ascOf(await write(b))).toEqual(GOOD);
    expect(ascOf(await read(b))).toEqual(GOOD);
    expect(ascOf(await read(a))).toEqual(ASYMMETRIC_ACCESS_STATE_CHANGED);
    expect(ascOf(await read(a))).toEqual(GOOD);
    const r = sh("iscsi-test-cu", ["-i", INITIATOR, "-d", "-f", "--test", "ALL.MultipathIO.Simple", libiscsiUrl(ports[0]), libiscsiUrl(ports[1])], 120_000);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Simple \.\.\.passed/);
  });

  it("Unavailable: READ and READ CAPACITY get 04h/0Ch, INQUIRY and RTPG still answer", async () => {
    await api.alua.setState.mutate({ ...SO, group: "second", state: AluaState.UNAVAILABLE });
    expect(ascOf(await read(b))).toEqual(ASYMMETRIC_ACCESS_STATE_CHANGED);
    expect(ascOf(await read(b))).toEqual([0x2, 0x04, 0x0c]);
    expect(ascOf(await write(b))).toEqual([0x2, 0x04, 0x0c]);
    expect(ascOf(await b.command(Buffer.from([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]), { readLength: 8 }))).toEqual([0x2, 0x04, 0x0c]);
    expect(ascOf(await b.command(Buffer.from([0x12, 0, 0, 0, 96, 0]), { readLength: 96 }))).toEqual(GOOD);
    expect((await rtpg(b)).groups[1].state).toBe(AluaState.UNAVAILABLE);
    expect(ascOf(await read(a))).toEqual(ASYMMETRIC_ACCESS_STATE_CHANGED);
  });

  it("SET TARGET PORT GROUPS from tpg1 swaps the states: the other session sees 2Ah/06h, the issuer does not; the result is stored", async () => {
    const list = encodeStpg([{ state: AluaState.STANDBY, id: 0 }, { state: AluaState.ACTIVE_OPTIMIZED, id: 2 }]);
    const cdb = Buffer.alloc(12);
    cdb[0] = 0xa4;
    cdb[1] = 0x0a;
    cdb.writeUInt32BE(list.length, 6);
    expect(ascOf(await a.command(cdb, { write: list }))).toEqual(GOOD);
    expect(ascOf(await read(a))).toEqual([0x2, 0x04, 0x0b]); // no unit attention for the issuer
    expect(ascOf(await read(b))).toEqual(ASYMMETRIC_ACCESS_STATE_CHANGED);
    expect(ascOf(await read(b))).toEqual(GOOD);
    const groups = (await api.alua.list.query(SO)).groups;
    expect(groups.map((g) => [g.name, g.state, g.status])).toEqual([
      ["default_tg_pt_gp", "Standby", "Altered by Explicit STPG"],
      ["second", "Active/Optimized", "Altered by Explicit STPG"],
    ]);
    const doc = JSON.parse(await api.config.export.query({ secrets: false })) as { storage_objects: { alua_tpgs: { name: string; alua_access_state: number }[] }[] };
    expect(doc.storage_objects[0].alua_tpgs.map((g) => [g.name, g.alua_access_state])).toEqual([["default_tg_pt_gp", 2], ["second", 0]]);
  });
});
