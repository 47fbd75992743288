/**
 * The one LUN codec: the 8-byte LUN field of iSCSI PDUs (RFC 7143 §11.3.4) and of
 * the REPORT LUNS list (SPC-4 §6.33) both go through it.
 *
 * Linux LIO neither peripheral- nor flat-space-encodes LUNs: the target core
 * writes REPORT LUNS with Linux's int_to_scsilun() and looks up commands with
 * scsilun_to_int(), which put LUN n (< 65536) in bytes 0-1 as a plain big-endian
 * 16-bit number (LUN 256 is 01 00h, LUN 16384 is 40 00h). libiscsi and QEMU put the
 * LUN of an iscsi://…/N URL there the same way, and Linux's initiator decodes REPORT
 * LUNS with scsilun_to_int(). Doing the same means the same URL reaches the same
 * LUN here and on LIO; below 256 it is SAM's peripheral addressing anyway.
 *
 * Every LUN number the engine accepts (0..MAX_LUN) has exactly one address and
 * every address decodes to at most one LUN: an 8-byte field whose bytes 2-7 are not
 * zero names a LUN above MAX_LUN (scsilun_to_int's second level), which we cannot
 * serve, so it decodes to NO_LUN and is answered LOGICAL UNIT NOT SUPPORTED.
 */

/** The highest LUN the engine (and its API) accepts, and the highest this codec can address. */
export const MAX_LUN = 0xffff;

/** What decodeLun returns for an address that names no LUN we can serve. */
export const NO_LUN = -1;

/** True for the LUN numbers this codec (and so the engine) can address. */
export function isAddressableLun(lun: number): boolean {
  return Number.isInteger(lun) && lun >= 0 && lun <= MAX_LUN;
}

/** Writes LUN `lun` as an 8-byte LUN field at `buf[off]` (int_to_scsilun). Throws RangeError for a LUN it cannot address. */
export function encodeLun(lun: number, buf: Buffer, off: number): void {
  if (!isAddressableLun(lun)) throw new RangeError(`LUN ${lun} cannot be addressed (0..${MAX_LUN})`);
  buf.fill(0, off, off + 8);
  buf[off] = lun >> 8;
  buf[off + 1] = lun & 0xff;
}

/** Reads the 8-byte LUN field at `buf[off]` (scsilun_to_int); NO_LUN when it names a LUN above MAX_LUN. */
export function decodeLun(buf: Buffer, off: number): number {
  for (let i = off + 2; i < off + 8; i++) if (buf[i] !== 0) return NO_LUN;
  return (buf[off] << 8) | buf[off + 1];
}
