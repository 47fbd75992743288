import { describe, expect, it } from "vitest";
import {
  cdbLength,
  parseCompareAndWrite,
  parseInquiry,
  parseLbaCdb,
  parseModeSelect,
  parseModeSense,
  parsePrOut,
  parseRequestSense,
  parseRsoc,
  parseServiceActionIn16,
  parseStartStop,
  parseUnmap,
  parseWriteSame,
  allocationLength,
} from "../../../server/engine/scsi/cdb";
import { rw10, rw16 } from "./helpers";

describe("cdb parsing", () => {
  it("knows CDB lengths from the group code", () => {
    expect(cdbLength(0x08)).toBe(6);
    expect(cdbLength(0x28)).toBe(10);
    expect(cdbLength(0x5a)).toBe(10);
    expect(cdbLength(0xa8)).toBe(12);
    expect(cdbLength(0x88)).toBe(16);
    expect(cdbLength(0x7f)).toBe(0);
  });

  it("decodes READ(6) with its 21-bit LBA and 0 meaning 256 blocks", () => {
    const p = parseLbaCdb(Buffer.from([0x08, 0xff, 0x12, 0x34, 0x00, 0]));
    expect(p.lba).toBe(0x1f1234);
    expect(p.blocks).toBe(256);
    expect(p.fua).toBe(false);
  });

  it("decodes READ(10) with DPO/FUA and RDPROTECT", () => {
    const p = parseLbaCdb(Buffer.from(rw10(0x28, 0x01020304, 0x0506, 0x20 | 0x10 | 0x08)));
    expect(p).toMatchObject({ lba: 0x01020304, blocks: 0x0506, dpo: true, fua: true, protect: 1 });
  });

  it("decodes WRITE(12) and VERIFY(12) BYTCHK", () => {
    const cdb = Buffer.from([0xaa, 0x08, 0, 0, 1, 0, 0, 0, 0x10, 0, 0, 0]);
    expect(parseLbaCdb(cdb)).toMatchObject({ lba: 256, blocks: 0x1000, fua: true });
    const v = Buffer.from([0xaf, 0x02, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0]);
    expect(parseLbaCdb(v)).toMatchObject({ lba: 9, blocks: 1, bytchk: 1 });
  });

  it("decodes 64-bit LBAs of READ(16)", () => {
    const p = parseLbaCdb(Buffer.from(rw16(0x88, 0x1_0000_0002n, 7)));
    expect(p.lba).toBe(0x1_0000_0002);
    expect(p.blocks).toBe(7);
    const huge = parseLbaCdb(Buffer.from(rw16(0x88, 0xffff_ffff_ffff_ffffn, 1)));
    expect(huge.lba).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
  });

  it("decodes INQUIRY, REQUEST SENSE and MODE SENSE fields", () => {
    expect(parseInquiry(Buffer.from([0x12, 1, 0x83, 0x01, 0x00, 0]))).toEqual({ evpd: true, cmddt: false, pageCode: 0x83, allocationLength: 256 });
    expect(parseRequestSense(Buffer.from([0x03, 1, 0, 0, 252, 0]))).toEqual({ desc: true, allocationLength: 252 });
    expect(parseModeSense(Buffer.from([0x1a, 0x08, 0x7f, 0xff, 200, 0]))).toMatchObject({ dbd: true, pc: 1, pageCode: 0x3f, subpageCode: 0xff, allocationLength: 200, ten: false });
    expect(parseModeSense(Buffer.from([0x5a, 0x10, 0x08, 0, 0, 0, 0, 0x01, 0x00, 0]))).toMatchObject({ llbaa: true, pageCode: 8, allocationLength: 256, ten: true });
    expect(parseModeSelect(Buffer.from([0x15, 0x11, 0, 0, 24, 0]))).toEqual({ pf: true, sp: true, parameterListLength: 24, ten: false });
  });

  it("decodes service actions and parameter lengths", () => {
    const rc16 = Buffer.alloc(16);
    rc16[0] = 0x9e;
    rc16[1] = 0x10;
    rc16.writeUInt32BE(32, 10);
    expect(parseServiceActionIn16(rc16)).toMatchObject({ serviceAction: 0x10, allocationLength: 32 });
    expect(allocationLength(rc16)).toBe(32);
    expect(parseUnmap(Buffer.from([0x42, 1, 0, 0, 0, 0, 0, 0, 24, 0]))).toEqual({ anchor: true, parameterListLength: 24, groupNumber: 0 });
    const ws = parseWriteSame(Buffer.from([0x41, 0x18, 0, 0, 0, 1, 0, 0, 8, 0]));
    expect(ws).toMatchObject({ anchor: true, unmap: true, lba: 1, blocks: 8 });
    const pr = Buffer.from([0x5f, 0x01, 0x13, 0, 0, 0, 0, 0, 24, 0]);
    expect(parsePrOut(pr)).toEqual({ serviceAction: 1, scope: 1, type: 3, parameterListLength: 24 });
    const rsoc = Buffer.from([0xa3, 0x0c, 0x82, 0x9e, 0, 0x10, 0, 0, 1, 0, 0, 0]);
    expect(parseRsoc(rsoc)).toEqual({ rctd: true, reportingOptions: 2, requestedOpcode: 0x9e, requestedServiceAction: 0x10, allocationLength: 256 });
    const caw = Buffer.from(rw16(0x89, 5n, 0));
    caw[13] = 1;
    expect(parseCompareAndWrite(caw)).toMatchObject({ lba: 5, blocks: 1 });
    expect(parseStartStop(Buffer.from([0x1b, 1, 0, 0, 0x03, 0]))).toMatchObject({ immed: true, loej: true, start: true, powerCondition: 0 });
  });
});
