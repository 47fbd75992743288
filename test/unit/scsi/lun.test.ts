import { describe, expect, it } from "vitest";
import { MAX_LUN, NO_LUN, decodeLun, encodeLun, isAddressableLun } from "../../../server/engine/scsi/lun";
import { dispatchScsi } from "../../../server/engine/scsi/dispatch";
import { identity, makeView, senseOf, task } from "./helpers";

const field = (lun: number) => {
  const b = Buffer.alloc(8);
  encodeLun(lun, b, 0);
  return b;
};

describe("the LUN codec", () => {
  it("writes each LUN as Linux's int_to_scsilun does (what LIO, libiscsi and QEMU put on the wire)", () => {
    expect(field(0).toString("hex")).toBe("0000000000000000");
    expect(field(255).toString("hex")).toBe("00ff000000000000");
    expect(field(256).toString("hex")).toBe("0100000000000000");
    expect(field(16383).toString("hex")).toBe("3fff000000000000");
    expect(field(16384).toString("hex")).toBe("4000000000000000");
    expect(field(65535).toString("hex")).toBe("ffff000000000000");
  });

  it("gives every LUN the API accepts its own address and reads each back as itself", () => {
    const seen = new Set<string>();
    for (let lun = 0; lun <= MAX_LUN; lun++) {
      const b = field(lun);
      seen.add(b.toString("hex"));
      if (decodeLun(b, 0) !== lun) throw new Error(`LUN ${lun} decodes as ${decodeLun(b, 0)}`);
    }
    expect(seen.size).toBe(65536);
  });

  it("refuses LUNs it cannot address instead of folding them onto another", () => {
    for (const bad of [-1, 65536, 1.5, Number.NaN]) {
      expect(isAddressableLun(bad)).toBe(false);
      expect(() => field(bad)).toThrow(RangeError);
    }
  });

  it("reads an address of a LUN above 65535 (bytes 2-7 not zero) as no LUN", () => {
    expect(decodeLun(Buffer.from("0000000100000000", "hex"), 0)).toBe(NO_LUN);
    expect(decodeLun(Buffer.from("4000000000000001", "hex"), 0)).toBe(NO_LUN);
    expect(decodeLun(Buffer.from("4000000000000000", "hex"), 0)).toBe(16384);
  });

  it("an address that is not one of the nexus's LUNs gets LOGICAL UNIT NOT SUPPORTED", async () => {
    const view = makeView(undefined, identity(), { luns: [0, 256, 16384] });
    for (const lun of [NO_LUN, 1, 16640]) {
      const r = await dispatchScsi({ ...task([0x00, 0, 0, 0, 0, 0]), lun }, view);
      expect(senseOf(r)).toMatchObject({ key: 5, asc: 0x25, ascq: 0 });
    }
  });
});
