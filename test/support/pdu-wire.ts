/**
 * Outgoing PDUs as an initiator (or a test standing in for the target) puts them on the wire,
 * built from the engine's codecs: the test client (iscsi-client.ts) sends with this, and unit
 * tests use it to feed the framer and as the reference for what iscsi/transmit.ts writes. The
 * engine itself sends through transmit.ts; nothing here is on its path.
 *
 * A PDU on the wire is BHS (48 bytes) + AHS + [HeaderDigest] + data padded to 4 + [DataDigest]
 * (RFC 7143 §11.2).
 */
import { BHS_LENGTH, dataDigest, headerDigest, pad4, writeLengths, type PduCodec } from "../../server/engine/iscsi/pdu";

export interface EncodeOptions {
  headerDigest?: boolean;
  dataDigest?: boolean;
  ahs?: Buffer;
}

/** One PDU as the buffers to hand to socket.write (no copy of `data`): [BHS+AHS(+HeaderDigest)] [data] [pad(+DataDigest)]. */
export function encodePdu<H>(c: PduCodec<H>, h: H, data: Buffer | undefined, opts: EncodeOptions = {}): Buffer[] {
  const ahsLen = opts.ahs?.length ?? 0;
  const dlen = data?.length ?? 0;
  const head = Buffer.alloc(BHS_LENGTH + ahsLen + (opts.headerDigest ? 4 : 0));
  const bhs = head.subarray(0, BHS_LENGTH);
  c.encode(h, bhs);
  writeLengths(bhs, ahsLen, dlen);
  if (ahsLen) opts.ahs!.copy(head, BHS_LENGTH);
  if (opts.headerDigest) head.writeUInt32LE(headerDigest(bhs, opts.ahs), BHS_LENGTH + ahsLen);
  if (!dlen) return [head];
  const p = pad4(dlen);
  const tailLen = p + (opts.dataDigest ? 4 : 0);
  if (!tailLen) return [head, data!];
  const tail = Buffer.alloc(tailLen);
  if (opts.dataDigest) tail.writeUInt32LE(dataDigest(data!), p);
  return [head, data!, tail];
}

/** One contiguous buffer for a PDU: encodePdu's parts concatenated. */
export function encodePduBuffer<H>(c: PduCodec<H>, h: H, data?: Buffer, opts: EncodeOptions = {}): Buffer {
  return Buffer.concat(encodePdu(c, h, data, opts));
}

/** Builds an AHS segment: [len(2) type(1) reserved(1) value…] padded to 4 (RFC 7143 §11.2.2). */
export function buildAhs(entries: { type: number; value: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const len = e.value.length + 1;
    const b = Buffer.alloc(3 + len + pad4(3 + len));
    b.writeUInt16BE(len, 0);
    b[2] = e.type;
    e.value.copy(b, 4);
    parts.push(b);
  }
  return Buffer.concat(parts);
}
