import { describe, expect, it } from "vitest";
import { PersistentReservations, PrType, ReservationConflict, parsePrOutParams, parseTransportId, transportId, type PrNexus, type PrOutParams } from "../../../server/engine/scsi/pr";
import { SenseError } from "../../../server/engine/scsi/sense";
import { ScsiStatus } from "../../../server/engine/scsi/types";
import { identity, makeDisk, makeView, run, rw10, task } from "./helpers";

const tp = "iqn.2003-01.org.example:target,t,0x0001";
const A: PrNexus = { key: "a", initiatorName: "iqn.a", isid: "400000000001", targetPort: tp, relativeTargetPortId: 1 };
const B: PrNexus = { key: "b", initiatorName: "iqn.b", isid: "400000000002", targetPort: tp, relativeTargetPortId: 1 };
const C: PrNexus = { key: "c", initiatorName: "iqn.c", isid: "400000000003", targetPort: tp, relativeTargetPortId: 1 };
const p = (rk: bigint, sak: bigint, extra: Partial<PrOutParams> = {}): PrOutParams => ({ reservationKey: rk, serviceActionKey: sak, specIPt: false, allTgPt: false, aptpl: false, ...extra });

describe("persistent reservations state machine", () => {
  it("registers, changes and removes keys; bumps the generation", () => {
    const pr = new PersistentReservations();
    pr.out(A, 0, 0, 0, p(0n, 0xaan));
    expect(pr.registrations.map((r) => r.key)).toEqual([0xaan]);
    expect(pr.generation).toBe(1);
    expect(() => pr.out(A, 0, 0, 0, p(0x11n, 0xbbn))).toThrow(ReservationConflict);
    pr.out(A, 0, 0, 0, p(0xaan, 0xbbn));
    expect(pr.registrations[0].key).toBe(0xbbn);
    pr.out(A, 6, 0, 0, p(0x99n, 0xccn)); // REGISTER AND IGNORE EXISTING KEY
    expect(pr.registrations[0].key).toBe(0xccn);
    pr.out(A, 0, 0, 0, p(0xccn, 0n));
    expect(pr.registrations).toEqual([]);
    expect(pr.generation).toBe(4);
    // An unregistered nexus registering with a non-zero reservation key conflicts.
    expect(() => pr.out(B, 0, 0, 0, p(5n, 6n))).toThrow(ReservationConflict);
  });

  it("reserves, enforces access by type, and releases", () => {
    const pr = new PersistentReservations();
    pr.out(A, 0, 0, 0, p(0n, 1n));
    pr.out(B, 0, 0, 0, p(0n, 2n));
    expect(() => pr.out(C, 1, 0, PrType.WRITE_EXCLUSIVE, p(0n, 0n))).toThrow(ReservationConflict);
    pr.out(A, 1, 0, PrType.WRITE_EXCLUSIVE, p(1n, 0n));
    expect(pr.conflicts(B, "read")).toBe(false);
    expect(pr.conflicts(B, "write")).toBe(true);
    expect(pr.conflicts(A, "write")).toBe(false);
    expect(pr.conflicts(C, "spc2")).toBe(false);
    expect(() => pr.out(B, 1, 0, PrType.WRITE_EXCLUSIVE, p(2n, 0n))).toThrow(ReservationConflict);
    // Release with the wrong type: INVALID RELEASE OF PERSISTENT RESERVATION.
    expect(() => pr.out(A, 2, 0, PrType.EXCLUSIVE_ACCESS, p(1n, 0n))).toThrow(SenseError);
    pr.out(A, 2, 0, PrType.WRITE_EXCLUSIVE, p(1n, 0n));
    expect(pr.reservation).toBeUndefined();
    pr.out(A, 1, 0, PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY, p(1n, 0n));
    expect(pr.conflicts(B, "read")).toBe(false);
    expect(pr.conflicts(C, "read")).toBe(true);
    const uas = pr.out(A, 2, 0, PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY, p(1n, 0n));
    expect(uas.map((u) => [u.registration.key, u.code])).toEqual([[2n, [0x2a, 0x04]]]);
  });

  it("all-registrants reservations are held by every registrant and report key 0", () => {
    const pr = new PersistentReservations();
    pr.out(A, 0, 0, 0, p(0n, 1n));
    pr.out(B, 0, 0, 0, p(0n, 2n));
    pr.out(A, 1, 0, PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS, p(1n, 0n));
    expect(pr.isHolder(B)).toBe(true);
    expect(pr.readReservation().readBigUInt64BE(8)).toBe(0n);
    expect(pr.readReservation()[21]).toBe(8);
    pr.out(A, 0, 0, 0, p(1n, 0n));
    expect(pr.reservation).toBeDefined();
    pr.out(B, 0, 0, 0, p(2n, 0n));
    expect(pr.reservation).toBeUndefined();
  });

  it("PREEMPT takes over the holder's reservation and removes its registration", () => {
    const pr = new PersistentReservations();
    pr.out(A, 0, 0, 0, p(0n, 1n));
    pr.out(B, 0, 0, 0, p(0n, 2n));
    pr.out(A, 1, 0, PrType.WRITE_EXCLUSIVE, p(1n, 0n));
    const uas = pr.out(B, 4, 0, PrType.EXCLUSIVE_ACCESS, p(2n, 1n));
    expect(uas.map((u) => u.code)).toEqual([[0x2a, 0x05]]);
    expect(pr.registrations.map((r) => r.key)).toEqual([2n]);
    expect(pr.reservation?.type).toBe(PrType.EXCLUSIVE_ACCESS);
    expect(pr.isHolder(B)).toBe(true);
    expect(() => pr.out(B, 4, 0, PrType.EXCLUSIVE_ACCESS, p(2n, 0x77n))).toThrow(ReservationConflict);
  });

  it("CLEAR removes everything and notifies the others", () => {
    const pr = new PersistentReservations();
    pr.out(A, 0, 0, 0, p(0n, 1n));
    pr.out(B, 0, 0, 0, p(0n, 2n));
    pr.out(A, 1, 0, PrType.EXCLUSIVE_ACCESS, p(1n, 0n));
    const uas = pr.out(B, 3, 0, 0, p(2n, 0n));
    expect(uas.map((u) => u.registration.key)).toEqual([1n]);
    expect(pr.registrations).toEqual([]);
    expect(pr.reservation).toBeUndefined();
  });

  it("REGISTER AND MOVE moves the reservation to the TransportID's nexus", () => {
    const pr = new PersistentReservations();
    pr.out(A, 0, 0, 0, p(0n, 1n));
    pr.out(A, 1, 0, PrType.WRITE_EXCLUSIVE, p(1n, 0n));
    pr.out(A, 7, 0, PrType.WRITE_EXCLUSIVE, p(1n, 9n, { unreg: true, relativeTargetPortId: 1, transportId: { initiatorName: "iqn.b", isid: "400000000002" } }));
    expect(pr.isHolder(B)).toBe(true);
    expect(pr.registrationOf(A)).toBeUndefined();
    expect(pr.registrationOf(B)?.key).toBe(9n);
  });

  it("reports capabilities, keys and full status with TransportIDs", () => {
    const pr = new PersistentReservations();
    pr.out(A, 0, 0, 0, p(0n, 0x1234n, { aptpl: true }));
    const caps = pr.reportCapabilities();
    expect(caps.readUInt16BE(0)).toBe(8);
    expect(caps[3] & 0x81).toBe(0x81);
    expect(pr.readKeys().readUInt32BE(4)).toBe(8);
    const fs = pr.readFullStatus();
    expect(fs.readBigUInt64BE(8)).toBe(0x1234n);
    const tid = fs.subarray(8 + 24);
    expect(parseTransportId(tid)).toEqual({ initiatorName: "iqn.a", isid: "400000000001" });
    expect(transportId(pr.registrations[0]).length % 4).toBe(0);
  });

  it("parses PR OUT parameter lists and rejects wrong lengths", () => {
    const d = Buffer.alloc(24);
    d.writeBigUInt64BE(5n, 0);
    d.writeBigUInt64BE(6n, 8);
    d[20] = 0x05;
    expect(parsePrOutParams(0, d, 24)).toMatchObject({ reservationKey: 5n, serviceActionKey: 6n, allTgPt: true, aptpl: true });
    expect(() => parsePrOutParams(0, d, 20)).toThrow(SenseError);
  });

  it("saves and loads APTPL state", () => {
    const pr = new PersistentReservations();
    pr.out(A, 0, 0, 0, p(0n, 1n, { aptpl: true }));
    pr.out(A, 1, 0, PrType.EXCLUSIVE_ACCESS, p(1n, 0n));
    const copy = new PersistentReservations();
    copy.load(JSON.parse(JSON.stringify(pr.save())));
    expect(copy.isHolder(A)).toBe(true);
    expect(copy.conflicts(B, "read")).toBe(true);
  });

  it("SPC-2 RESERVE blocks other nexuses until RELEASE", () => {
    const pr = new PersistentReservations();
    pr.reserveSpc2(A);
    expect(pr.conflicts(B, "spc2")).toBe(true);
    expect(pr.conflicts(B, "none")).toBe(false);
    expect(() => pr.reserveSpc2(B)).toThrow(ReservationConflict);
    pr.releaseSpc2(B);
    expect(pr.spc2Holder).toBe("a");
    pr.releaseSpc2(A);
    expect(pr.conflicts(B, "write")).toBe(false);
  });
});

describe("ScsiDisk with reservations", () => {
  function prOutCdb(sa: number, type: number): number[] {
    return [0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0];
  }
  function params(rk: bigint, sak: bigint, aptpl = false): Buffer {
    const b = Buffer.alloc(24);
    b.writeBigUInt64BE(rk, 0);
    b.writeBigUInt64BE(sak, 8);
    b[20] = aptpl ? 1 : 0;
    return b;
  }
  it("returns RESERVATION CONFLICT to another nexus and calls the APTPL hook", async () => {
    const { disk } = makeDisk();
    const saved: unknown[] = [];
    disk.onAptplChange = (s) => saved.push(s);
    const va = makeView(disk, identity("iqn.1994-05.com.example:a"));
    const vb = makeView(disk, identity("iqn.1994-05.com.example:b"));
    expect((await run(disk, task(prOutCdb(0, 0), { dataOut: params(0n, 0xabn, true) }), va)).status).toBe(0);
    expect(saved.length).toBe(1);
    expect((await run(disk, task(prOutCdb(1, 3), { dataOut: params(0xabn, 0n) }), va)).status).toBe(0);
    expect((await run(disk, task(rw10(0x28, 0, 1)), vb)).status).toBe(ScsiStatus.RESERVATION_CONFLICT);
    expect((await run(disk, task([0x12, 0, 0, 0, 96, 0]), vb)).status).toBe(0);
    expect((await run(disk, task(rw10(0x28, 0, 1)), va)).status).toBe(0);
    const keys = await run(disk, task([0x5e, 0, 0, 0, 0, 0, 0, 1, 0, 0]), vb);
    expect(keys.dataIn!.readBigUInt64BE(8)).toBe(0xabn);
  });
});
