import { describe, expect, it } from "vitest";
import { dispatchScsi } from "../../../server/engine/scsi/dispatch";
import { decodeLun } from "../../../server/engine/scsi/lun";
import { ScsiStatus, type ScsiNexusView } from "../../../server/engine/scsi/types";
import { identity, makeDisk, makeView, senseOf, task } from "./helpers";

describe("dispatchScsi", () => {
  it("REPORT LUNS lists the nexus's LUNs", async () => {
    const view = makeView(undefined, identity(), { luns: [0, 3, 300] });
    const r = await dispatchScsi({ ...task([0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]), lun: 5 }, view);
    const d = r.dataIn!;
    expect(d.readUInt32BE(0)).toBe(24);
    expect(decodeLun(d, 8)).toBe(0);
    expect(decodeLun(d, 16)).toBe(3);
    // LUN 300 as LIO writes it (int_to_scsilun): 01 2Ch, not flat space 41 2Ch.
    expect(d.subarray(24, 32).toString("hex")).toBe("012c000000000000");
  });

  it("REPORT LUNS reports LUN 0 when nothing is mapped and checks the allocation length", async () => {
    const view = makeView(undefined, identity(), { luns: [] });
    const r = await dispatchScsi(task([0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0]), view);
    expect(r.dataIn!.readUInt32BE(0)).toBe(8);
    const bad = await dispatchScsi(task([0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]), view);
    expect(senseOf(bad)).toMatchObject({ key: 5, asc: 0x24 });
  });

  it("answers INQUIRY to an unmapped LUN with qualifier 011b / type 1Fh", async () => {
    const r = await dispatchScsi({ ...task([0x12, 0, 0, 0, 96, 0]), lun: 7 }, makeView(undefined));
    expect(r.status).toBe(ScsiStatus.GOOD);
    expect(r.dataIn![0]).toBe(0x7f);
  });

  it("REQUEST SENSE to an unmapped LUN returns LOGICAL UNIT NOT SUPPORTED as data", async () => {
    const r = await dispatchScsi({ ...task([0x03, 0, 0, 0, 18, 0]), lun: 7 }, makeView(undefined));
    expect(r.status).toBe(ScsiStatus.GOOD);
    expect(senseOf({ status: 0, sense: r.dataIn })).toMatchObject({ key: 5, asc: 0x25 });
  });

  it("anything else to an unmapped LUN is CHECK CONDITION 25h/00h", async () => {
    const r = await dispatchScsi({ ...task([0, 0, 0, 0, 0, 0]), lun: 7 }, makeView(undefined));
    expect(senseOf(r)).toMatchObject({ key: 5, asc: 0x25, ascq: 0 });
  });

  it("routes mapped LUNs to the device", async () => {
    const { disk } = makeDisk();
    const r = await dispatchScsi(task([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]), makeView(disk));
    expect(r.dataIn!.readUInt32BE(0)).toBe(2047);
  });

  it("never throws: a broken view gives HARDWARE ERROR", async () => {
    const view = { identity: identity(), resolve: () => { throw new Error("x"); }, luns: () => [] } as unknown as ScsiNexusView;
    const orig = console.error;
    console.error = () => undefined;
    try {
      expect(senseOf(await dispatchScsi(task([0, 0, 0, 0, 0, 0]), view))).toMatchObject({ key: 4, asc: 0x44 });
    } finally {
      console.error = orig;
    }
  });
});
