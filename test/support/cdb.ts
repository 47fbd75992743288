/**
 * READ(10) and WRITE(10) CDBs for tests that drive a LUN through an initiator (SBC-3 §5.15, §5.37):
 * operation code, FUA in byte 1 bit 3, the LBA in bytes 2-5 and the transfer length in blocks in
 * bytes 7-8, big-endian. IscsiClient.command pads a CDB to the 16 bytes of the SCSI Command PDU.
 */

/** A READ(10) of `blocks` logical blocks from `lba`. */
export function read10(lba: number, blocks: number): Buffer {
  return rw10(0x28, lba, blocks, false);
}

/** A WRITE(10) of `blocks` logical blocks at `lba`; `fua`: Force Unit Access (written through before GOOD). */
export function write10(lba: number, blocks: number, opts: { fua?: boolean } = {}): Buffer {
  return rw10(0x2a, lba, blocks, opts.fua === true);
}

function rw10(op: 0x28 | 0x2a, lba: number, blocks: number, fua: boolean): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = op;
  cdb[1] = fua ? 0x08 : 0;
  cdb.writeUInt32BE(lba, 2);
  cdb.writeUInt16BE(blocks, 7);
  return cdb;
}
