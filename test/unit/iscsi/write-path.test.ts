/**
 * A write's payload on its way through the target (engine alone, real TCP from the test client):
 * whatever the socket's chunks look like (every chunk boundary is re-cut on the target's side, down
 * to one byte), immediate data, unsolicited Data-Out and solicited Data-Out over several R2Ts
 * reach the backstore byte-exact, with and without digests, and the transport copies each byte of
 * payload at most once (iscsi/stream.ts places a straddling data segment straight into the
 * command's gather buffer). Data-Out out of sequence is still refused (CHECK CONDITION, DATA PHASE
 * ERROR) and its command's data never reaches the medium.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { Connection } from "../../../server/engine/iscsi/connection";
import { DataOut, Opcode, RESERVED_TAG, R2T, ScsiCommand, ScsiResponse, type Pdu } from "../../../server/engine/iscsi/pdu";
import { giveEarlyGather, takeEarlyGather } from "../../../server/engine/iscsi/session";
import { IscsiClient, type LoginOptions } from "../../support/iscsi-client";
import { encodePduBuffer } from "../../support/pdu-wire";
import { TARGET, startTarget, type Harness } from "./harness";

let h: Harness;
const clients: IscsiClient[] = [];
/** The backstore's medium is the only 4 MiB buffer a copy goes into (harness.ts memBackstore). */
const MEDIUM = 4 * 1024 * 1024;
/** Every data segment below is at least this long; headers and trailers are shorter. */
const PAYLOAD_MIN = 1024;

beforeAll(async () => {
  h = await startTarget();
  // Data-Out PDUs of 64 KiB (they straddle chunks), unsolicited data allowed, bursts of 128 KiB (several R2Ts).
  for (const [k, v] of Object.entries({ MaxRecvDataSegmentLength: "65536", FirstBurstLength: "131072", MaxBurstLength: "131072", InitialR2T: "No" })) {
    h.engine.setTpgParameter(TARGET, 1, k, v);
  }
});

afterAll(async () => {
  for (const c of clients) c.close();
  await h.close();
});

/** Bytes copied by Buffer#copy inside the target while it handles chunks, split into transport and medium. */
const copied = { transport: 0, medium: 0 };
let counting = false;
const realCopy = Buffer.prototype.copy;
function countingCopy(this: Buffer, target: Uint8Array, targetStart?: number, sourceStart?: number, sourceEnd?: number): number {
  const n = realCopy.call(this, target, targetStart, sourceStart, sourceEnd);
  if (counting) {
    if (target.length === MEDIUM) copied.medium += n;
    // Payload goes into buffers of a data segment's or a command's size; the stream's header
    // (48 bytes + header digest) and pad/digest (≤ 7 bytes) copies go elsewhere.
    else if (target.length >= PAYLOAD_MIN) copied.transport += n;
  }
  return n;
}

/**
 * Re-cuts everything the target's socket delivers into chunks of the sizes `sizes` cycles through
 * (the last piece of each delivery as it is). When the connection reads into one reused buffer
 * (receive-buffer.ts), every chunk is a view of one scratch buffer that is overwritten with junk
 * as soon as the target returns: a PDU the target kept a view of would then carry junk. Otherwise
 * each chunk is its own memory, as a socket's 'data' chunks are.
 */
function recut(c: IscsiClient, sizes: number[]): void {
  const conn = serverSide(c);
  const sock = conn.socket;
  const onData = (conn as unknown as { onData(chunk: Buffer): void }).onData.bind(conn);
  const reused = conn.stream.reusesChunks;
  const scratch = Buffer.alloc(Math.max(...sizes));
  let i = 0;
  const cut = (d: Buffer) => {
    for (let off = 0; off < d.length; ) {
      const n = Math.min(sizes[i++ % sizes.length], d.length - off);
      let chunk: Buffer;
      if (reused) {
        chunk = scratch.subarray(0, n);
        d.copy(chunk, 0, off, off + n);
      } else chunk = Buffer.from(d.subarray(off, off + n));
      off += n;
      counting = true;
      Buffer.prototype.copy = countingCopy as typeof Buffer.prototype.copy;
      try {
        onData(chunk);
      } finally {
        Buffer.prototype.copy = realCopy;
        counting = false;
      }
      if (reused) scratch.fill(0xa5);
    }
  };
  if (reused) {
    const kBufferCb = Object.getOwnPropertySymbols(sock).find((k) => k.description === "kBufferCb")!;
    const fields = sock as unknown as Record<symbol, unknown>;
    const own = fields[kBufferCb] as (nread: number, buf: Buffer) => void;
    expect(typeof own).toBe("function");
    fields[kBufferCb] = (nread: number, buf: Buffer) => cut(buf.subarray(0, nread));
  } else {
    const [deliver] = sock.listeners("data") as ((b: Buffer) => void)[];
    sock.removeListener("data", deliver);
    sock.on("data", cut);
  }
}

/** The target's end of a client's connection. */
function serverSide(c: IscsiClient): Connection {
  const conns = (h.fabric as unknown as { connections: Set<Connection> }).connections;
  return [...conns].find((x) => x.remotePort === c.socket.localPort)!;
}

async function session(opts: LoginOptions, sizes: number[]): Promise<IscsiClient> {
  const c = await IscsiClient.connect(h.port);
  clients.push(c);
  const r = await c.login({ targetName: TARGET, isid: randomBytes(6).toString("hex"), ...opts });
  expect(r.statusClass, `login ${JSON.stringify(r)}`).toBe(0);
  recut(c, sizes);
  return c;
}

async function readBack(c: IscsiClient, lba: number, length: number): Promise<Buffer> {
  const r = await c.read10(lba, length / 512);
  expect(r.status).toBe(0);
  return r.data;
}

const CHUNKINGS: [string, number[]][] = [
  ["1-byte chunks", [1]],
  ["odd chunks (inside BHS, header digest, data, pad, data digest)", [1, 3, 47, 5, 4099, 65536 + 7, 2, 49, 13, 30000]],
  ["64 KiB chunks", [65536]],
];

describe("write path: payload from socket chunks to the backstore", () => {
  for (const [label, sizes] of CHUNKINGS) {
    for (const digests of [false, true]) {
      for (const initialR2T of ["Yes", "No"]) {
        it(`${label}, digests ${digests}, InitialR2T=${initialR2T}: byte-exact, at most one copy per byte`, async () => {
          const c = await session({ headerDigest: digests, dataDigest: digests, maxRecvDataSegmentLength: 65536, keys: { InitialR2T: initialR2T, FirstBurstLength: "131072" } }, sizes);
          const lba = (initialR2T === "Yes" ? 0 : 2048) + (digests ? 1024 : 0);
          // 300 KiB + 1 block: 64 KiB of immediate data (the target's MaxRecvDataSegmentLength), with InitialR2T=No
          // one unsolicited Data-Out up to FirstBurstLength (128 KiB), then R2Ts of up to 128 KiB, Data-Out of 64 KiB.
          // 4 KiB: all immediate. 128 KiB without immediate data: two unsolicited Data-Out, or one R2T.
          const writes = [randomBytes(300 * 1024 + 512), randomBytes(4096), randomBytes(128 * 1024)];
          const noImmediate = [false, false, true];
          let at = lba;
          for (const [i, data] of writes.entries()) {
            copied.transport = copied.medium = 0;
            const w = await c.write10(at, data, 512, 0, { noImmediateData: noImmediate[i] });
            expect(w.status, `sense ${w.sense?.toString("hex")}`).toBe(0);
            // Each byte copied once into the medium; at most once before it (out of the reused read buffer, or none for data
            // that came whole in one fresh 'data' chunk).
            expect(copied.medium).toBe(data.length);
            expect(copied.transport).toBeLessThanOrEqual(data.length);
            if (sizes[0] === 1) expect(copied.transport).toBe(data.length);
            at += data.length / 512;
          }
          at = lba;
          for (const data of writes) {
            expect((await readBack(c, at, data.length)).equals(data)).toBe(true);
            at += data.length / 512;
          }
        });
      }
    }
  }
});

describe("write path: Data-Out out of sequence", () => {
  /** A WRITE(10) of `blocks` without immediate data, sent by hand so its Data-Out can be wrong; returns the first R2T. */
  async function startWrite(c: IscsiClient, itt: number, lba: number, blocks: number): Promise<ReturnType<typeof R2T.decode>> {
    const cdb = Buffer.alloc(16);
    cdb[0] = 0x2a;
    cdb.writeUInt32BE(lba, 2);
    cdb.writeUInt16BE(blocks, 7);
    c.sendPdu(ScsiCommand, { immediate: false, final: true, read: false, write: true, attr: 1, lun: 0, itt, edtl: blocks * 512, cmdSN: c.cmdSN++, expStatSN: c.expStatSN, cdb });
    const r2t = await c.nextUnsolicited();
    expect(r2t?.opcode).toBe(Opcode.R2T);
    return R2T.decode(r2t!.bhs);
  }

  function expectDataPhaseError(p: Pdu | undefined, itt: number): void {
    expect(p?.opcode).toBe(Opcode.SCSI_RESPONSE);
    const r = ScsiResponse.decode(p!.bhs);
    expect(r.itt).toBe(itt);
    expect(r.status).toBe(2);
    const sense = p!.data.subarray(2);
    // ABORTED COMMAND, DATA PHASE ERROR (4Bh/00h)
    expect([sense[2] & 0x0f, sense[12], sense[13]]).toEqual([0x0b, 0x4b, 0x00]);
    c0.expStatSN = (r.statSN + 1) >>> 0;
  }
  let c0: IscsiClient;

  for (const [label, sizes] of CHUNKINGS) {
    it(`refuses a wrong DataSN, a wrong offset and an unknown TTT (${label}); the medium keeps its data; the session goes on`, async () => {
      const c = (c0 = await session({ maxRecvDataSegmentLength: 65536, keys: { InitialR2T: "Yes" } }, sizes));
      const lba = 4096;
      const before = randomBytes(128 * 1024);
      expect((await c.write10(lba, before)).status).toBe(0);
      const payload = randomBytes(128 * 1024);
      const cases: [string, (r2t: ReturnType<typeof R2T.decode>, itt: number) => void][] = [
        ["DataSN", (r2t, itt) => {
          c.sendPdu(DataOut, { final: false, lun: 0, itt, ttt: r2t.ttt, expStatSN: c.expStatSN, dataSN: 0, bufferOffset: 0 }, payload.subarray(0, 65536));
          c.sendPdu(DataOut, { final: true, lun: 0, itt, ttt: r2t.ttt, expStatSN: c.expStatSN, dataSN: 5, bufferOffset: 65536 }, payload.subarray(65536));
        }],
        ["offset", (r2t, itt) => {
          c.sendPdu(DataOut, { final: false, lun: 0, itt, ttt: r2t.ttt, expStatSN: c.expStatSN, dataSN: 0, bufferOffset: 0 }, payload.subarray(0, 65536));
          c.sendPdu(DataOut, { final: true, lun: 0, itt, ttt: r2t.ttt, expStatSN: c.expStatSN, dataSN: 1, bufferOffset: 65536 - 512 }, payload.subarray(65536 - 512, 131072 - 512));
        }],
        ["TTT", (r2t, itt) => {
          c.sendPdu(DataOut, { final: false, lun: 0, itt, ttt: (r2t.ttt + 1000) >>> 0, expStatSN: c.expStatSN, dataSN: 0, bufferOffset: 0 }, payload.subarray(0, 65536));
        }],
        ["unsolicited", (_r2t, itt) => {
          c.sendPdu(DataOut, { final: false, lun: 0, itt, ttt: RESERVED_TAG, expStatSN: c.expStatSN, dataSN: 0, bufferOffset: 0 }, payload.subarray(0, 65536));
        }],
      ];
      for (const [i, [what, send]] of cases.entries()) {
        const itt = 0x7000 + i;
        const r2t = await startWrite(c, itt, lba, 256);
        expect(r2t.desiredLength, what).toBe(128 * 1024);
        send(r2t, itt);
        expectDataPhaseError(await c.nextUnsolicited(), itt);
        expect((await readBack(c, lba, before.length)).equals(before), what).toBe(true);
      }
      // The session still writes.
      expect((await c.write10(lba, payload)).status).toBe(0);
      expect((await readBack(c, lba, payload.length)).equals(payload)).toBe(true);
    });
  }

  it("drops the connection on a data digest error in a placed Data-Out, and the medium keeps its data", async () => {
    const c = (c0 = await session({ headerDigest: true, dataDigest: true, maxRecvDataSegmentLength: 65536, keys: { InitialR2T: "Yes" } }, [1000]));
    const lba = 6000;
    const before = randomBytes(64 * 1024);
    expect((await c.write10(lba, before)).status).toBe(0);
    const r2t = await startWrite(c, 0x7100, lba, 128);
    const payload = randomBytes(64 * 1024);
    // Encoded with a right digest, then one payload byte flipped on the wire.
    const good: Buffer[] = [];
    const send = c.socket.write.bind(c.socket);
    (c.socket as unknown as { write: (b: Buffer) => boolean }).write = (b: Buffer) => (good.push(b), true);
    c.sendPdu(DataOut, { final: true, lun: 0, itt: 0x7100, ttt: r2t.ttt, expStatSN: c.expStatSN, dataSN: 0, bufferOffset: 0 }, payload);
    (c.socket as unknown as { write: typeof send }).write = send;
    const wire = Buffer.concat(good);
    wire[52 + 30000] ^= 0x40;
    c.sendBytes(wire);
    const reject = await c.nextUnsolicited();
    expect(reject?.opcode).toBe(Opcode.REJECT);
    expect(reject!.bhs[2]).toBe(0x02); // Data (payload) digest error
    expect(await c.closesWithin(5000)).toBe(true);
    const d = await session({}, [65536]);
    expect((await readBack(d, lba, before.length)).equals(before)).toBe(true);
  });

  it("a task ended from another nexus while the stream fills its gather buffer does not give that buffer back to the pool", async () => {
    const a = (c0 = await session({ maxRecvDataSegmentLength: 65536, keys: { InitialR2T: "Yes" } }, [4096]));
    const b = await session({}, [65536]);
    const itt = 0x7300;
    const r2t = await startWrite(a, itt, 7000, 256);
    const task = serverSide(a).session!.tasks.get(itt)!;
    const wire = encodePduBuffer(DataOut, { final: true, lun: 0, itt, ttt: r2t.ttt, expStatSN: a.expStatSN, dataSN: 0, bufferOffset: 0 }, randomBytes(65536));
    a.sendBytes(wire.subarray(0, 30_000));
    await expect.poll(() => task.placing?.length).toBe(65536);
    const gather = task.dataOut!;
    // LUN RESET through the other session ends the task (TMF function 5, RFC 7143 §11.5.1).
    expect(await b.taskManagement(5)).toBe(0);
    expect(task.state).toBe("done");
    // The pool hands out its free buffers last in, first out: the gather buffer is not among them.
    const taken = Array.from({ length: 40 }, () => takeEarlyGather(0x2a, gather.length)!);
    expect(taken.includes(gather)).toBe(false);
    for (const t of taken) giveEarlyGather(t);
    // The rest of the PDU is discarded with its task; the session goes on.
    a.sendBytes(wire.subarray(30_000));
    const data = randomBytes(128 * 1024);
    const w = await a.write10(7000, data);
    expect(w.status, `sense ${w.sense?.toString("hex")}`).toBe(0);
    expect((await readBack(a, 7000, data.length)).equals(data)).toBe(true);
  });
});
