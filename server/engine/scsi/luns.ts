/**
 * REPORT LUNS (SPC-4 §6.33) and LUN encoding (SAM-5 §4.7): peripheral device
 * addressing below 256, flat space addressing (01b) up to 16383. Shared by
 * dispatch.ts (the whole nexus) and ScsiDisk.
 */
import { allocationLength } from "./cdb";
import { invalidFieldInCdb } from "./sense";
import type { ScsiNexusView } from "./types";

export function encodeLun(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else {
    b[0] = 0x40 | ((lun >> 8) & 0x3f);
    b[1] = lun & 0xff;
  }
  return b;
}

/** Decodes the first level of an 8-byte SAM LUN (peripheral or flat space addressing). */
export function decodeLun(b: Buffer): number {
  const method = b[0] >> 6;
  if (method === 0) return b[1];
  if (method === 1) return ((b[0] & 0x3f) << 8) | b[1];
  return -1;
}

/** The REPORT LUNS parameter data for a nexus. With no LUN at all, LUN 0 is reported (SPC-4 §6.33, as LIO). */
export function reportLunsData(cdb: Buffer, view: ScsiNexusView): Buffer {
  const select = cdb[2];
  // 00h/02h: every LUN; 01h: well-known LUNs only (we have none); 10h-12h: administrative/subsidiary (SPC-4r37).
  if (![0x00, 0x01, 0x02, 0x10, 0x11, 0x12].includes(select)) throw invalidFieldInCdb(2);
  const alloc = allocationLength(cdb) ?? 0;
  // SPC-4 §6.33: an ALLOCATION LENGTH below 16 is an error.
  if (alloc < 16) throw invalidFieldInCdb(6);
  let luns = select === 0x01 || select === 0x11 ? [] : view.luns();
  if (luns.length === 0 && select !== 0x01 && select !== 0x11) luns = [0];
  const b = Buffer.alloc(8 + 8 * luns.length);
  b.writeUInt32BE(8 * luns.length, 0);
  luns.forEach((lun, i) => encodeLun(lun).copy(b, 8 + 8 * i));
  return b.subarray(0, Math.min(b.length, alloc));
}
