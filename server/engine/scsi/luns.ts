/**
 * REPORT LUNS (SPC-4 §6.33), each LUN written by the one LUN codec (lun.ts), as LIO
 * does. Shared by dispatch.ts (the whole nexus) and ScsiDisk.
 */
import { allocationLength } from "./cdb";
import { encodeLun } from "./lun";
import { invalidFieldInCdb } from "./sense";
import type { ScsiNexusView } from "./types";

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
  luns.forEach((lun, i) => encodeLun(lun, b, 8 + 8 * i));
  return b.subarray(0, Math.min(b.length, alloc));
}
