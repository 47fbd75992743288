import { describe, expect, it } from "vitest";
import { Asc, SenseKey, descriptorSense, fixedSense, parseSense, buildSense } from "../../../server/engine/scsi/sense";

describe("sense data", () => {
  it("builds fixed format with key, ASC/ASCQ and the INFORMATION field", () => {
    const b = fixedSense({ key: SenseKey.MISCOMPARE, asc: 0x1d, ascq: 0, information: 513 });
    expect(b.length).toBe(18);
    expect(b[0]).toBe(0xf0); // VALID | 70h
    expect(b[2]).toBe(0x0e);
    expect(b.readUInt32BE(3)).toBe(513);
    expect(b[7]).toBe(10);
    expect([b[12], b[13]]).toEqual([0x1d, 0x00]);
  });

  it("sets the sense-key specific field pointer", () => {
    const b = fixedSense({ key: SenseKey.ILLEGAL_REQUEST, asc: 0x24, ascq: 0, fieldPointer: { cd: true, byte: 2, bit: 5 } });
    expect(b[15]).toBe(0x80 | 0x40 | 0x08 | 5);
    expect(b.readUInt16BE(16)).toBe(2);
    expect(b[0]).toBe(0x70); // no INFORMATION: VALID clear
  });

  it("builds descriptor format with an information descriptor", () => {
    const b = descriptorSense({ key: SenseKey.UNIT_ATTENTION, asc: 0x29, ascq: 0, information: 7n });
    expect(b[0]).toBe(0x72);
    expect([b[1], b[2], b[3]]).toEqual([6, 0x29, 0]);
    expect(b[7]).toBe(12);
    expect(b[8]).toBe(0);
    expect(b.readBigUInt64BE(12)).toBe(7n);
  });

  it("parses both formats back", () => {
    for (const desc of [false, true]) {
      const s = parseSense(buildSense({ key: SenseKey.ILLEGAL_REQUEST, asc: Asc.LBA_OUT_OF_RANGE[0], ascq: 0, information: 42 }, desc));
      expect(s).toEqual({ key: 5, asc: 0x21, ascq: 0, information: 42n });
    }
  });
});
