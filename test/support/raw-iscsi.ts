/**
 * A deliberately tiny, independent iSCSI PDU writer/reader for black-box tests of
 * bad input: it shares no code with the engine's codec, so a bug there cannot
 * hide itself here. RFC 7143 §11.12 (Login Request), §11.13 (Login Response), §11.17 (Reject).
 */
import net from "node:net";
import { Inbox } from "./inbox";

export const Opcode = { NOP_OUT: 0x00, SCSI_COMMAND: 0x01, LOGIN_REQUEST: 0x03, TEXT_REQUEST: 0x04, LOGOUT_REQUEST: 0x06 } as const;
export const TargetOpcode = { NOP_IN: 0x20, SCSI_RESPONSE: 0x21, LOGIN_RESPONSE: 0x23, TEXT_RESPONSE: 0x24, DATA_IN: 0x25, LOGOUT_RESPONSE: 0x26, REJECT: 0x3f } as const;

export interface RawPdu {
  opcode: number;
  flags: number;
  bhs: Buffer;
  data: Buffer;
}

export function textData(keys: Record<string, string>): Buffer<ArrayBufferLike> {
  return Buffer.from(Object.entries(keys).map(([k, v]) => `${k}=${v}\0`).join(""), "utf8");
}

export function parseText(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of data.toString("utf8").split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Builds a PDU: BHS fields given as byte offsets, data padded to 4. DataSegmentLength may be forced (for lies). */
export function pdu(opcode: number, flags: number, fields: (bhs: Buffer) => void, data: Buffer<ArrayBufferLike> = Buffer.alloc(0), dslOverride?: number): Buffer {
  const bhs = Buffer.alloc(48);
  bhs[0] = opcode;
  bhs[1] = flags;
  const dsl = dslOverride ?? data.length;
  bhs[5] = (dsl >> 16) & 0xff;
  bhs[6] = (dsl >> 8) & 0xff;
  bhs[7] = dsl & 0xff;
  fields(bhs);
  const padded = Buffer.alloc(pad4(data.length));
  data.copy(padded);
  return Buffer.concat([bhs, padded]);
}

const ISID = Buffer.from([0x80, 0x12, 0x34, 0x56, 0x00, 0x01]);

/** Login Request with T=1 from `csg` to `nsg` (RFC 7143 §11.12). */
export function loginRequest(keys: Record<string, string>, opts: { csg?: number; nsg?: number; itt?: number; cmdSn?: number; expStatSn?: number; isid?: Buffer; dsl?: number } = {}): Buffer {
  const csg = opts.csg ?? 1;
  const nsg = opts.nsg ?? 3;
  return pdu(
    Opcode.LOGIN_REQUEST | 0x40, // immediate
    0x80 | (csg << 2) | nsg,
    (b) => {
      b[2] = 0; // Version-max
      b[3] = 0; // Version-min
      (opts.isid ?? ISID).copy(b, 8);
      b.writeUInt16BE(0, 14); // TSIH
      b.writeUInt32BE(opts.itt ?? 1, 16);
      b.writeUInt16BE(0, 20); // CID
      b.writeUInt32BE(opts.cmdSn ?? 1, 24);
      b.writeUInt32BE(opts.expStatSn ?? 0, 28); // ExpStatSN
    },
    textData(keys),
    opts.dsl,
  );
}

/** A connection that reads whole PDUs (no digests). */
export class RawConnection {
  private buf = Buffer.alloc(0);
  private readonly inbox = new Inbox<RawPdu>();
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.drain();
    });
    this.closedPromise = new Promise((resolve) => {
      socket.on("close", () => {
        this.closed = true;
        this.inbox.close();
        resolve();
      });
    });
    socket.on("error", () => undefined);
  }

  static connect(port: number, host = "127.0.0.1", localAddress?: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) }, () => resolve(new RawConnection(s)));
      s.once("error", reject);
    });
  }

  private drain() {
    while (this.buf.length >= 48) {
      const ahs = this.buf[4] * 4;
      const dsl = (this.buf[5] << 16) | (this.buf[6] << 8) | this.buf[7];
      const total = 48 + ahs + pad4(dsl);
      if (this.buf.length < total) return;
      const bhs = Buffer.from(this.buf.subarray(0, 48));
      const p: RawPdu = { opcode: bhs[0] & 0x3f, flags: bhs[1], bhs, data: Buffer.from(this.buf.subarray(48 + ahs, 48 + ahs + dsl)) };
      this.buf = this.buf.subarray(total);
      this.inbox.put(p);
    }
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next PDU, or undefined if the connection closed or nothing came within timeoutMs. */
  next(timeoutMs = 5000): Promise<RawPdu | undefined> {
    return this.inbox.next(timeoutMs);
  }

  /** Resolves true if the peer closes within timeoutMs. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    return Promise.race([this.closedPromise.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Logs in to a normal session in one step (CSG=1 → NSG=3). Returns the final Login Response. */
export async function loginNormal(conn: RawConnection, targetName: string, initiatorName = "iqn.2024-01.org.portico.test:raw"): Promise<RawPdu> {
  let cmdSn = 1;
  conn.send(
    loginRequest(
      {
        InitiatorName: initiatorName,
        TargetName: targetName,
        SessionType: "Normal",
        HeaderDigest: "None",
        DataDigest: "None",
        ErrorRecoveryLevel: "0",
        MaxRecvDataSegmentLength: "262144",
      },
      { csg: 1, nsg: 3, cmdSn },
    ),
  );
  for (let i = 0; i < 6; i++) {
    const r = await conn.next();
    if (!r) throw new Error("connection closed during login");
    if (r.opcode !== TargetOpcode.LOGIN_RESPONSE) throw new Error(`unexpected opcode 0x${r.opcode.toString(16)} during login`);
    if (r.bhs[36] !== 0) return r;
    if (r.flags & 0x80 && (r.flags & 0x03) === 3) return r;
    // The target wants another round (T=0): answer with no new keys, acknowledging its StatSN.
    conn.send(loginRequest({}, { csg: 1, nsg: 3, cmdSn, expStatSn: (r.bhs.readUInt32BE(24) + 1) >>> 0 }));
  }
  throw new Error("login did not finish in 6 rounds");
}
