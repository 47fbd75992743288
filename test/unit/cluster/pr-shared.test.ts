/**
 * The engine's shared-reservations path (scsi/pr.ts PrStore, commands-pr.ts): two ScsiDisks for
 * one LU, as two gateways each see it through their own TPG, share their state through a store
 * that behaves like server/cluster/pr-store.ts over etcd (compare-and-set on a revision, the
 * stored value encoded by pr-store's own encodePr/decodePr, changes delivered to the other disk
 * with their unit attentions). The etcd store itself is tested against a real etcd in
 * test/integration/cluster-pr.test.ts.
 */
import { describe, expect, it } from "vitest";
import { decodePr, encodePr, storeUnavailable } from "../../../server/cluster/pr-store";
import type { ScsiDisk } from "../../../server/engine/scsi/disk";
import { PersistentReservations, PrType, type PrStore, type PrUnitAttention } from "../../../server/engine/scsi/pr";
import { itNexus, ScsiStatus, type NexusIdentity, type ScsiNexusView, type ResolvedLun } from "../../../server/engine/scsi/types";
import { makeDisk, rw10, senseOf, task } from "../scsi/helpers";

const TARGET = "iqn.2003-01.org.example:shared";

/** The "etcd" both gateways commit to: one value and its revision. */
class Shared {
  rev = 0;
  value: string | undefined;
  nodes: MemStore[] = [];
  /** Lets a test run something between a change's computation and its commit (a racing gateway). */
  beforeCommit: (() => Promise<void>) | undefined;
  failing = false;
}

class MemStore implements PrStore {
  rev = 0;
  attempts = 0;
  constructor(
    readonly shared: Shared,
    readonly disk: ScsiDisk,
    readonly name: string,
  ) {
    shared.nodes.push(this);
    disk.pr.store = this;
  }

  async update(change: (pr: PersistentReservations) => PrUnitAttention[]): Promise<PrUnitAttention[]> {
    for (;;) {
      this.attempts++;
      const base = this.disk.pr.snapshot();
      const baseRev = this.rev;
      const scratch = PersistentReservations.from(base);
      const uas = change(scratch);
      const hook = this.shared.beforeCommit;
      this.shared.beforeCommit = undefined;
      await hook?.();
      await new Promise((r) => setImmediate(r)); // the round trip
      if (this.shared.failing) throw storeUnavailable();
      if (this.shared.rev !== baseRev) {
        this.apply(); // lost the race: take the newer state and try again
        continue;
      }
      this.shared.rev++;
      this.shared.value = encodePr(scratch.snapshot(), uas, this.name);
      this.rev = this.shared.rev;
      this.disk.pr.restore(scratch.snapshot());
      for (const n of this.shared.nodes) if (n !== this) n.apply();
      return uas;
    }
  }

  /** A watch event: the newer state and the unit attentions it raised, for this disk's nexuses. */
  apply(): void {
    if (this.shared.rev <= this.rev || !this.shared.value) return;
    const d = decodePr(this.shared.value)!;
    this.disk.pr.restore(d.state);
    this.rev = this.shared.rev;
    this.disk.queuePrUnitAttentions(d.uas);
  }
}

/** A gateway: a disk for the LU, seen through TPG `tag` with relative target port id `rtpi`. */
function gateway(shared: Shared, name: string, tag: number, rtpi: number) {
  const { disk } = makeDisk();
  const store = new MemStore(shared, disk, name);
  const view = (id: NexusIdentity): ScsiNexusView & { resolved: ResolvedLun } => {
    const resolved: ResolvedLun = { binding: { lun: 0, tpgLunIndex: 0, writeProtect: false }, device: disk, relativeTargetPortId: rtpi };
    return { identity: id, resolve: (lun) => (lun === 0 ? resolved : undefined), luns: () => [0], resolved };
  };
  const nexus = (initiator: string, isid = "400001370000") => {
    const id = itNexus(initiator, isid, TARGET, tag);
    disk.nexusCreated(id);
    disk.unitAttentions.clear(id.key); // past the POWER ON unit attention
    return id;
  };
  const exec = (id: NexusIdentity, cdb: number[], dataOut?: Buffer) => {
    const v = view(id);
    return disk.execute(task(cdb, dataOut ? { dataOut } : {}), v, v.resolved);
  };
  return { disk, store, nexus, exec };
}

function prOutParams(key: bigint, saKey: bigint, flags = 0): Buffer {
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(key, 0);
  p.writeBigUInt64BE(saKey, 8);
  p[20] = flags;
  return p;
}
const prOut = (sa: number, type = 0) => [0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0];
const prIn = (sa: number) => [0x5e, sa, 0, 0, 0, 0, 0, 0x04, 0x00, 0];
const TUR = [0, 0, 0, 0, 0, 0];
const RESERVE6 = [0x16, 0, 0, 0, 0, 0];

function keys(data: Buffer | undefined): bigint[] {
  const n = data!.readUInt32BE(4) / 8;
  return Array.from({ length: n }, (_, i) => data!.readBigUInt64BE(8 + 8 * i));
}

/** gw-a (TPG 1, relative target port 1) and gw-b (TPG 2, port 2) on one shared store, initiator x through gw-a and y through gw-b. */
function twoGateways() {
  const shared = new Shared();
  const a = gateway(shared, "gw-a", 1, 1);
  const b = gateway(shared, "gw-b", 2, 2);
  return { shared, a, b, x: a.nexus("iqn.1994-05.com.example:x"), y: b.nexus("iqn.1994-05.com.example:y") };
}

describe("reservations shared between gateways (PrStore)", () => {
  it("a registration through one gateway is read through the other, with the same generation", async () => {
    const { shared, a, b, x, y } = twoGateways();
    expect((await a.exec(x, prOut(0x00), prOutParams(0n, 0xa1n))).status).toBe(ScsiStatus.GOOD);
    const r = await b.exec(y, prIn(0x00));
    expect(r.status).toBe(ScsiStatus.GOOD);
    expect(keys(r.dataIn)).toEqual([0xa1n]);
    expect(r.dataIn!.readUInt32BE(0)).toBe(1); // PRgeneration
    // READ FULL STATUS names gw-a's port: relative target port id 1 and its target port.
    const fs = await b.exec(y, prIn(0x03));
    expect(fs.dataIn!.readUInt16BE(8 + 18)).toBe(1);
    expect(JSON.parse(shared.value!).registrations[0]).toMatchObject({ targetPort: `${TARGET},t,0x0001`, relativeTargetPortId: 1 });
  });

  it("a reservation through one gateway makes an unregistered write through the other conflict; PREEMPT raises 2Ah/05h on the first", async () => {
    const { shared, a, b, x, y } = twoGateways();
    expect((await a.exec(x, prOut(0x00), prOutParams(0n, 0xa1n))).status).toBe(ScsiStatus.GOOD);
    expect((await a.exec(x, prOut(0x01, PrType.WRITE_EXCLUSIVE), prOutParams(0xa1n, 0n))).status).toBe(ScsiStatus.GOOD);
    expect((await b.exec(y, rw10(0x2a, 0, 1), Buffer.alloc(512))).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect((await b.exec(y, rw10(0x28, 0, 1))).status).toBe(ScsiStatus.GOOD); // WRITE EXCLUSIVE lets others read
    // y registers through gw-b and preempts x's reservation.
    expect((await b.exec(y, prOut(0x00), prOutParams(0n, 0xb2n))).status).toBe(ScsiStatus.GOOD);
    expect((await b.exec(y, prOut(0x04, PrType.WRITE_EXCLUSIVE), prOutParams(0xb2n, 0xa1n))).status).toBe(ScsiStatus.GOOD);
    const ua = await a.exec(x, TUR);
    expect(ua.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(senseOf(ua)).toMatchObject({ key: 0x6, asc: 0x2a, ascq: 0x05 }); // REGISTRATIONS PREEMPTED
    // x is no longer registered: its writes through gw-a conflict, y's through gw-b land.
    expect((await a.exec(x, rw10(0x2a, 0, 1), Buffer.alloc(512))).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect((await b.exec(y, rw10(0x2a, 0, 1), Buffer.alloc(512))).status).toBe(ScsiStatus.GOOD);
    const res = await a.exec(x, prIn(0x01));
    expect(res.dataIn!.readBigUInt64BE(8)).toBe(0xb2n);
  });

  it("a commit that loses a race is evaluated again against the newer state: one RESERVE wins, the other conflicts", async () => {
    const { shared, a, b, x, y } = twoGateways();
    expect((await a.exec(x, prOut(0x00), prOutParams(0n, 1n))).status).toBe(ScsiStatus.GOOD);
    expect((await b.exec(y, prOut(0x00), prOutParams(0n, 2n))).status).toBe(ScsiStatus.GOOD);
    // y's RESERVE is computed against a state without a reservation, then x's lands first.
    shared.beforeCommit = async () => {
      expect((await a.exec(x, prOut(0x01, PrType.EXCLUSIVE_ACCESS), prOutParams(1n, 0n))).status).toBe(ScsiStatus.GOOD);
    };
    const attempts = b.store.attempts;
    expect((await b.exec(y, prOut(0x01, PrType.EXCLUSIVE_ACCESS), prOutParams(2n, 0n))).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect(b.store.attempts - attempts).toBe(2);
    expect(JSON.parse(shared.value!).reservation).toEqual({ holderIndex: 0, type: PrType.EXCLUSIVE_ACCESS });
    // Concurrent REGISTERs through both gateways: neither registration is lost.
    const x2 = a.nexus("iqn.1994-05.com.example:x2");
    const y2 = b.nexus("iqn.1994-05.com.example:y2");
    const [r1, r2] = await Promise.all([a.exec(x2, prOut(0x00), prOutParams(0n, 3n)), b.exec(y2, prOut(0x00), prOutParams(0n, 4n))]);
    expect([r1.status, r2.status]).toEqual([ScsiStatus.GOOD, ScsiStatus.GOOD]);
    expect(keys((await a.exec(x, prIn(0x00))).dataIn).sort()).toEqual([1n, 2n, 3n, 4n]);
    expect(keys((await b.exec(y, prIn(0x00))).dataIn).sort()).toEqual([1n, 2n, 3n, 4n]);
    expect(a.disk.pr.generation).toBe(4);
  });

  it("a store that cannot commit: CHECK CONDITION (ABORTED COMMAND, 08h/00h), never GOOD, nothing changed", async () => {
    const shared = new Shared();
    const a = gateway(shared, "gw-a", 1, 1);
    const x = a.nexus("iqn.1994-05.com.example:x");
    shared.failing = true;
    const r = await a.exec(x, prOut(0x00), prOutParams(0n, 7n));
    expect(r.status).toBe(ScsiStatus.CHECK_CONDITION);
    expect(senseOf(r)).toMatchObject({ key: 0xb, asc: 0x08, ascq: 0x00 });
    expect(a.disk.pr.registrations).toEqual([]);
    expect(keys((await a.exec(x, prIn(0x00))).dataIn)).toEqual([]);
  });

  it("ALL_TG_PT=1 registers the initiator port through every gateway's target port", async () => {
    const shared = new Shared();
    const a = gateway(shared, "gw-a", 1, 1);
    const b = gateway(shared, "gw-b", 2, 2);
    const xa = a.nexus("iqn.1994-05.com.example:x");
    const xb = b.nexus("iqn.1994-05.com.example:x"); // the same initiator port through gw-b
    const z = b.nexus("iqn.1994-05.com.example:z");
    expect((await a.exec(xa, prOut(0x00), prOutParams(0n, 0x11n, 0x04))).status).toBe(ScsiStatus.GOOD);
    // Through gw-b the nexus is registered: it reserves with the key.
    expect((await b.exec(xb, prOut(0x01, PrType.WRITE_EXCLUSIVE), prOutParams(0x11n, 0n))).status).toBe(ScsiStatus.GOOD);
    expect((await a.exec(xa, rw10(0x2a, 0, 1), Buffer.alloc(512))).status).toBe(ScsiStatus.GOOD);
    expect((await b.exec(z, rw10(0x2a, 0, 1), Buffer.alloc(512))).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    // Without ALL_TG_PT a registration is the one I_T nexus: the same initiator through gw-b is not registered.
    const shared2 = new Shared();
    const c = gateway(shared2, "gw-a", 1, 1);
    const d = gateway(shared2, "gw-b", 2, 2);
    const xc = c.nexus("iqn.1994-05.com.example:x");
    const xd = d.nexus("iqn.1994-05.com.example:x");
    expect((await c.exec(xc, prOut(0x00), prOutParams(0n, 0x11n))).status).toBe(ScsiStatus.GOOD);
    expect((await d.exec(xd, prOut(0x01, PrType.WRITE_EXCLUSIVE), prOutParams(0x11n, 0n))).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect((await d.exec(xd, prOut(0x00), prOutParams(0n, 0x22n))).status).toBe(ScsiStatus.GOOD);
    expect(keys((await c.exec(xc, prIn(0x00))).dataIn)).toEqual([0x11n, 0x22n]);
  });

  it("SPC-2 RESERVE through one gateway conflicts through the other; the holder's nexus loss releases it everywhere", async () => {
    const { shared, a, b, x, y } = twoGateways();
    expect((await a.exec(x, RESERVE6)).status).toBe(ScsiStatus.GOOD);
    expect((await b.exec(y, TUR)).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect((await b.exec(y, RESERVE6)).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect(JSON.parse(shared.value!).spc2Holder).toBe(x.key);
    a.disk.nexusLost(x); // logout: committed in the background
    for (let i = 0; i < 10 && shared.value && JSON.parse(shared.value).spc2Holder; i++) await new Promise((r) => setImmediate(r));
    expect(JSON.parse(shared.value!).spc2Holder).toBeUndefined();
    expect((await b.exec(y, TUR)).status).toBe(ScsiStatus.GOOD);
  });

  it("stored values round-trip through encodePr/decodePr, unit attentions included", () => {
    const pr = new PersistentReservations();
    const n = { key: "k", initiatorName: "iqn.x", isid: "400000000001", targetPort: `${TARGET},t,0x0002`, relativeTargetPortId: 2 };
    pr.out(n, 0, 0, 0, { reservationKey: 0n, serviceActionKey: 0xffffffffffffffffn, specIPt: false, allTgPt: true, aptpl: true });
    pr.out(n, 1, 0, PrType.EXCLUSIVE_ACCESS, { reservationKey: 0xffffffffffffffffn, serviceActionKey: 0n, specIPt: false, allTgPt: false, aptpl: false });
    const uas: PrUnitAttention[] = [{ registration: pr.registrations[0]!, code: [0x2a, 0x03] }];
    const d = decodePr(encodePr(pr.snapshot(), uas, "gw-b"))!;
    expect(d.state).toEqual(pr.snapshot());
    expect(d.uas[0]!.registration).toEqual(pr.registrations[0]);
    const copy = PersistentReservations.from(d.state);
    expect(copy.readFullStatus().equals(pr.readFullStatus())).toBe(true);
    expect(copy.aptpl).toBe(true);
    expect(decodePr("{not json")).toBeUndefined();
    expect(decodePr(JSON.stringify({ v: 2 }))).toBeUndefined();
  });
});
