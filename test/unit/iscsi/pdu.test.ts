import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { crc32c } from "@node-rs/crc32";
import * as pduModule from "../../../server/engine/iscsi/pdu";
import {
  AhsType, BHS_LENGTH, DataIn, LoginRequest, Opcode, ScsiCommand, dataDigest, headerDigest, parseAhs, type PduCodec,
} from "../../../server/engine/iscsi/pdu";
import { PduStream, type FrameError } from "../../../server/engine/iscsi/stream";
import type { Pdu } from "../../../server/engine/iscsi/pdu";
import { buildAhs, encodePdu, encodePduBuffer } from "../../support/pdu-wire";

/** Every codec the engine's pdu module exports, by opcode. */
const CODECS: Record<number, PduCodec<unknown>> = Object.fromEntries(
  (Object.values(pduModule) as unknown[])
    .filter((v): v is PduCodec<unknown> => typeof v === "object" && v !== null && "opcode" in v && "decode" in v && "encode" in v)
    .map((c) => [c.opcode, c]),
);

/** CRC32C as the 32-bit value (the function the digests are made of). */
const crc32cOf = (b: Buffer) => crc32c(b) >>> 0;

/** A header with every field set to a recognisable non-default value. */
function sample(c: PduCodec<unknown>, seed: number): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  let n = seed;
  for (const f of c.fields) {
    n = (n * 7 + 13) >>> 0;
    switch (f.t) {
      case "flag": h[f.name] = n % 2 === 1; break;
      case "bits": h[f.name] = n & f.mask; break;
      case "u8": h[f.name] = n & 0xff; break;
      case "u16": h[f.name] = n & 0xffff; break;
      case "u32": h[f.name] = (n * 2654435761) >>> 0; break;
      case "lun": h[f.name] = n % 2 ? n % 256 : 256 + (n % 16000); break;
      case "isid": h[f.name] = (n * 2654435761).toString(16).padStart(12, "0").slice(-12); break;
      case "bytes": h[f.name] = Buffer.from(randomBytes(f.len)); break;
    }
  }
  return h;
}

describe("PDU codec", () => {
  it("has a codec for every initiator and target opcode", () => {
    expect(Object.keys(CODECS).map(Number).sort((a, b) => a - b)).toEqual(
      [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3f],
    );
  });

  for (const c of Object.values(CODECS)) {
    it(`round-trips ${c.name}`, () => {
      for (const seed of [1, 2, 3, 99]) {
        const h = sample(c, seed);
        const data = randomBytes(seed * 5);
        const wire = encodePduBuffer(c, h, data);
        expect(wire[0] & 0x3f).toBe(c.opcode);
        expect(wire.readUIntBE(5, 3)).toBe(data.length);
        expect(wire.length).toBe(BHS_LENGTH + ((data.length + 3) & ~3));
        expect(c.decode(wire.subarray(0, BHS_LENGTH))).toEqual(h);
      }
    });
  }

  it("puts fields where RFC 7143 says", () => {
    const b = encodePduBuffer(ScsiCommand, {
      immediate: true, final: true, read: true, write: false, attr: 1, lun: 3, itt: 0x11223344, edtl: 4096,
      cmdSN: 7, expStatSN: 9, cdb: Buffer.from([0x28, 0, 0, 0, 0, 1, 0, 0, 8, 0]),
    });
    expect(b.subarray(0, 2)).toEqual(Buffer.from([0x41, 0xc1]));
    expect(b.subarray(8, 10)).toEqual(Buffer.from([0, 3]));
    expect(b.readUInt32BE(16)).toBe(0x11223344);
    expect(b.readUInt32BE(20)).toBe(4096);
    expect(b.readUInt32BE(24)).toBe(7);
    expect(b[32]).toBe(0x28);
    const l = encodePduBuffer(LoginRequest, {
      immediate: true, transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0, isid: "80123456789a",
      tsih: 0x1234, itt: 1, cid: 5, cmdSN: 1, expStatSN: 0,
    });
    expect(l[1]).toBe(0x87);
    expect(l.subarray(8, 16).toString("hex")).toBe("80123456789a1234");
  });

  it("carries the LUN field through the one LUN codec, as LIO (int_to_scsilun / scsilun_to_int)", () => {
    for (const [lun, hex] of [[5, "0005"], [300, "012c"], [16384, "4000"], [65535, "ffff"]] as const) {
      const b = encodePduBuffer(ScsiCommand, {
        immediate: false, final: true, read: true, write: false, attr: 0, lun, itt: 1, edtl: 512, cmdSN: 1, expStatSN: 0, cdb: Buffer.alloc(16),
      });
      expect(b.subarray(8, 16).toString("hex")).toBe(`${hex}000000000000`);
      expect(ScsiCommand.decode(b).lun).toBe(lun);
    }
    const second = encodePduBuffer(ScsiCommand, {
      immediate: false, final: true, read: true, write: false, attr: 0, lun: 0, itt: 1, edtl: 512, cmdSN: 1, expStatSN: 0, cdb: Buffer.alloc(16),
    });
    second[10] = 0x40; // a second-level address: a LUN above 65535, not LUN 0
    expect(ScsiCommand.decode(second).lun).toBe(-1);
  });

  it("parses and builds AHS (extended CDB, bidirectional read length)", () => {
    const ext = randomBytes(16);
    const bidi = Buffer.from([0, 0, 0, 0x10, 0]);
    const ahs = buildAhs([{ type: AhsType.EXTENDED_CDB, value: ext }, { type: AhsType.BIDI_READ_LENGTH, value: bidi.subarray(1) }]);
    expect(ahs.length % 4).toBe(0);
    const parsed = parseAhs(ahs)!;
    expect(parsed[0].type).toBe(1);
    expect(parsed[0].value).toEqual(ext);
    expect(parsed[1].type).toBe(2);
    expect(parseAhs(Buffer.from([0, 200, 1, 0]))).toBeUndefined();
  });
});

describe("CRC32C (RFC 3720 Appendix B.4)", () => {
  const le = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b.toString("hex");
  };
  it("32 bytes of zeros → aa 36 91 8a", () => expect(le(crc32cOf(Buffer.alloc(32)))).toBe("aa36918a"));
  it("32 bytes of ones → 43 ab a8 62", () => expect(le(crc32cOf(Buffer.alloc(32, 0xff)))).toBe("43aba862"));
  it("32 incrementing bytes → 4e 79 dd 46", () => expect(le(crc32cOf(Buffer.from([...Array(32).keys()])))).toBe("4e79dd46"));
  it("32 decrementing bytes → 5c db 3f 11", () => expect(le(crc32cOf(Buffer.from([...Array(32).keys()].map((i) => 31 - i))))).toBe("5cdb3f11"));
  it("the SCSI Read(10) command PDU → 56 3a 96 d9", () => {
    const pdu = Buffer.alloc(48);
    pdu[0] = 0x01; pdu[1] = 0xc0; pdu[16] = 0x14; pdu[22] = 0x04; pdu[23] = 0x00;
    pdu[27] = 0x14; pdu[31] = 0x18; pdu[32] = 0x28; pdu[40] = 0x02;
    expect(le(crc32cOf(pdu))).toBe("563a96d9");
  });
  it("data digest covers the pad bytes", () => {
    const d = Buffer.from("abc");
    expect(dataDigest(d)).toBe(crc32cOf(Buffer.from([0x61, 0x62, 0x63, 0])));
  });
  it("writes digests little-endian after the header and after the pad", () => {
    const wire = Buffer.concat(encodePdu(DataIn, sample(DataIn, 4) as never, Buffer.from("hello"), { headerDigest: true, dataDigest: true }));
    expect(wire.readUInt32LE(48)).toBe(headerDigest(wire.subarray(0, 48)));
    expect(wire.readUInt32LE(52 + 8)).toBe(dataDigest(Buffer.from("hello")));
  });
});

describe("PDU stream", () => {
  function pdus(n: number, digests = false): { wire: Buffer; datas: Buffer[] } {
    const parts: Buffer[] = [];
    const datas: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const data = randomBytes((i * 37) % 300);
      datas.push(data);
      const ahs = i % 3 === 0 ? buildAhs([{ type: 1, value: randomBytes(8) }]) : undefined;
      parts.push(...encodePdu(ScsiCommand, sample(ScsiCommand, i) as never, data, { headerDigest: digests, dataDigest: digests, ahs }));
    }
    return { wire: Buffer.concat(parts.map((p) => Buffer.from(p))), datas };
  }

  function feed(stream: PduStream, wire: Buffer, sizes: () => number) {
    for (let off = 0; off < wire.length; ) {
      const n = Math.max(1, sizes());
      stream.push(wire.subarray(off, off + n));
      off += n;
    }
  }

  for (const digests of [false, true]) {
    it(`frames PDUs under arbitrary chunking (digests ${digests})`, () => {
      const { wire, datas } = pdus(40, digests);
      for (const chunk of [() => 1, () => 7, () => 48, () => 1000, () => Math.floor(Math.random() * 200)]) {
        const got: Pdu[] = [];
        const s = new PduStream({ maxRecvDataSegmentLength: 8192, headerDigest: digests, dataDigest: digests }, (p) => got.push(p), (e) => { throw new Error(e.kind); });
        feed(s, wire, chunk);
        expect(got.length).toBe(40);
        got.forEach((p, i) => expect(p.data.equals(datas[i])).toBe(true));
        expect(got[0].ahs.length).toBe(12);
      }
    });
  }

  it("emits views into the chunk when a PDU fits in it (no copy)", () => {
    const { wire } = pdus(3);
    const got: Pdu[] = [];
    new PduStream({ maxRecvDataSegmentLength: 8192 }, (p) => got.push(p), () => undefined).push(wire);
    expect(got[1].data.buffer).toBe(wire.buffer);
  });

  it("refuses a DataSegmentLength above MaxRecvDataSegmentLength before allocating", () => {
    const errors: FrameError[] = [];
    const s = new PduStream({ maxRecvDataSegmentLength: 8192 }, () => { throw new Error("no PDU expected"); }, (e) => errors.push(e));
    const bhs = Buffer.alloc(48);
    bhs[0] = Opcode.LOGIN_REQUEST;
    bhs.writeUIntBE(8193, 5, 3);
    s.push(bhs);
    expect(errors.map((e) => e.kind)).toEqual(["oversize"]);
    s.push(randomBytes(100));
    expect(errors.length).toBe(1);
  });

  it("reports header and data digest errors", () => {
    const { wire } = pdus(2, true);
    const bad = Buffer.from(wire);
    bad[10] ^= 1;
    const e1: FrameError[] = [];
    new PduStream({ maxRecvDataSegmentLength: 8192, headerDigest: true, dataDigest: true }, () => undefined, (e) => e1.push(e)).push(bad);
    expect(e1[0]?.kind).toBe("header_digest");
    const bad2 = Buffer.from(wire);
    bad2[64 + 52 + 2] ^= 1; // second PDU (first is BHS + 12-byte AHS + digest, no data): its data
    const e2: FrameError[] = [];
    new PduStream({ maxRecvDataSegmentLength: 8192, headerDigest: true, dataDigest: true }, () => undefined, (e) => e2.push(e)).push(bad2);
    expect(e2.map((e) => e.kind)).toContain("data_digest");
  });

  it("never throws on random bytes (fuzz)", () => {
    for (let i = 0; i < 300; i++) {
      const s = new PduStream({ maxRecvDataSegmentLength: 8192, headerDigest: i % 2 === 0, dataDigest: i % 3 === 0 }, () => undefined, () => undefined);
      const junk = randomBytes(50 + ((i * 131) % 3000));
      expect(() => feed(s, junk, () => 1 + Math.floor(Math.random() * 100))).not.toThrow();
    }
  });
});
