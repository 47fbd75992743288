/**
 * Data-In (handlers/scsi-response.ts respond → sendDataIn) against RFC 7143's rules, with odd
 * negotiated lengths: every PDU within the initiator's MaxRecvDataSegmentLength (§13.12), sequences
 * (F bit) of at most MaxBurstLength (§13.14, §11.7.1), DataSN from 0 and BufferOffset contiguous
 * (§11.7.4-5), the status in the last Data-In only when the command ends GOOD without sense
 * (S bit, phase collapse, §11.7.1: with sense a SCSI Response follows), a StatSN taken only by the
 * PDU that carries status, and the device's buffer handed back exactly once, after the last PDU
 * was written (ScsiResult.releaseDataIn).
 */
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { DataIn, ScsiResponse, type DataInHeader } from "../../../server/engine/iscsi/pdu";
import { respond } from "../../../server/engine/iscsi/handlers/scsi-response";
import type { ConnectionPort } from "../../../server/engine/iscsi/handlers/port";
import { StatSNUse, type Task } from "../../../server/engine/iscsi/session";
import { ScsiStatus, type ScsiResult } from "../../../server/engine/scsi/types";

interface Sent {
  kind: "data-in" | "response";
  h: Record<string, unknown>;
  data: Buffer | undefined;
  statSN: number;
  onWritten: ((err?: Error | null) => void) | undefined;
}

/** A connection that records what respond() queues (headers copied: the Data-In header is one reused object). */
function port(maxXmitDataSegmentLength: number, maxBurstLength: number): { c: ConnectionPort; sent: Sent[] } {
  const sent: Sent[] = [];
  const dataInHdr = { final: false, hasStatus: false, status: 0, overflow: false, underflow: false, residualCount: 0 } as DataInHeader;
  const c = {
    state: "ffp",
    params: { maxXmitDataSegmentLength, maxBurstLength },
    dataInHdr,
    send(codec: unknown, h: Record<string, unknown>, data: Buffer | undefined, statSN: number, onWritten?: (err?: Error | null) => void) {
      sent.push({ kind: codec === DataIn ? "data-in" : codec === ScsiResponse ? "response" : (`other` as never), h: { ...h }, data, statSN, onWritten });
    },
    notice() {},
  } as unknown as ConnectionPort;
  return { c, sent };
}

/** A READ task as session.ts makes one, with only what respond() reads. */
function readTask(readLength: number): Task & { finished: number } {
  const t = {
    state: "running",
    taskTag: 0x1234,
    lun: 0,
    immediate: true,
    aborted: undefined,
    read: true,
    write: false,
    readLength,
    expectedDataTransferLength: readLength,
    r2tSN: 0,
    received: 0,
    io: undefined,
    cdb: Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    session: { tasks: { delete() {} }, credit() {} },
    finished: 0,
    finish() {
      t.finished++;
      t.state = "done";
    },
  };
  return t as unknown as Task & { finished: number };
}

/** What the Data-In PDUs must obey, whatever the lengths. */
function checkDataIn(sent: Sent[], data: Buffer, mx: number, burst: number, withStatus: boolean, releases = true): void {
  const pdus = sent.filter((s) => s.kind === "data-in");
  expect(pdus.length).toBeGreaterThan(0);
  let off = 0;
  let seq = 0;
  for (const [i, p] of pdus.entries()) {
    const last = i === pdus.length - 1;
    const len = p.data!.length;
    expect(len).toBeGreaterThan(0);
    expect(len).toBeLessThanOrEqual(mx);
    expect(p.h.dataSN).toBe(i);
    expect(p.h.bufferOffset).toBe(off);
    expect(p.data!.equals(data.subarray(off, off + len))).toBe(true);
    off += len;
    seq += len;
    expect(seq).toBeLessThanOrEqual(burst);
    // F ends a sequence: when MaxBurstLength is reached, and at the end of the data.
    expect(p.h.final).toBe(seq === burst || last);
    if (p.h.final) seq = 0;
    expect(p.h.hasStatus).toBe(last && withStatus);
    expect(p.statSN).toBe(last && withStatus ? StatSNUse.ADVANCE : StatSNUse.RESERVED);
    // The buffer's release rides on the last PDU only.
    expect(p.onWritten !== undefined).toBe(last && releases);
  }
  expect(off).toBe(data.length);
}

describe("Data-In (scsi-response.ts)", () => {
  const cases: [mx: number, burst: number, len: number][] = [
    [262144, 262144, 1 << 20], // iscsi-perf against LIO's defaults: 4 PDUs, 4 sequences
    [262144, 524288, 1 << 20], // ceph-iscsi's MaxBurstLength: 4 PDUs, 2 sequences
    [8192, 262144, 1 << 20], // an 8 KiB initiator: 128 PDUs
    [4100, 10000, 65536 + 1000], // odd: a burst is not a whole number of PDUs
    [512, 1536, 512 * 7 + 3], // smallest legal MaxRecvDataSegmentLength, a short last PDU
    [1 << 20, 262144, 700 * 1024 + 12], // PDUs bounded by the burst, not the segment length
  ];
  for (const [mx, burst, len] of cases) {
    it(`splits ${len} bytes at MaxRecvDataSegmentLength ${mx}, MaxBurstLength ${burst}; status in the last PDU; released once`, () => {
      const { c, sent } = port(mx, burst);
      const task = readTask(len);
      const data = randomBytes(len);
      const released: Buffer[] = [];
      respond(c, task, { status: ScsiStatus.GOOD, dataIn: data, releaseDataIn: (b) => released.push(b) });
      checkDataIn(sent, data, mx, burst, true);
      expect(sent.some((s) => s.kind === "response")).toBe(false); // phase collapse: no SCSI Response
      const last = sent.at(-1)!;
      expect([last.h.status, last.h.underflow, last.h.overflow, last.h.residualCount]).toEqual([ScsiStatus.GOOD, false, false, 0]);
      expect(task.finished).toBe(1);
      // Not before the socket has written the last PDU; then exactly once, with the device's own buffer.
      expect(released).toEqual([]);
      last.onWritten!();
      expect(released.length).toBe(1);
      expect(released[0]).toBe(data);
    });
  }

  it("reports an underflow in the last Data-In's residual when the device returns less than expected", () => {
    const { c, sent } = port(8192, 65536);
    const data = randomBytes(3 * 8192 + 100);
    respond(c, readTask(data.length + 4096), { status: ScsiStatus.GOOD, dataIn: data });
    checkDataIn(sent, data, 8192, 65536, true, false);
    const last = sent.at(-1)!;
    expect([last.h.underflow, last.h.overflow, last.h.residualCount]).toEqual([true, false, 4096]);
  });

  it("truncates to the expected length and reports the overflow", () => {
    const { c, sent } = port(8192, 65536);
    const data = randomBytes(20000);
    const released: Buffer[] = [];
    respond(c, readTask(12000), { status: ScsiStatus.GOOD, dataIn: data, releaseDataIn: (b) => released.push(b) });
    checkDataIn(sent, data.subarray(0, 12000), 8192, 65536, true);
    const last = sent.at(-1)!;
    expect([last.h.overflow, last.h.underflow, last.h.residualCount]).toEqual([true, false, 8000]);
    last.onWritten!();
    expect(released.length).toBe(1);
    expect(released[0]).toBe(data); // the whole buffer, not the view sent
  });

  it("sends a SCSI Response after the Data-In when there is sense data (no S bit)", () => {
    const { c, sent } = port(4096, 8192);
    const data = randomBytes(10000);
    const sense = Buffer.alloc(18);
    sense[0] = 0x70;
    sense[2] = 0x01; // RECOVERED ERROR: data valid, status still GOOD
    const released: Buffer[] = [];
    respond(c, readTask(data.length), { status: ScsiStatus.GOOD, sense, dataIn: data, releaseDataIn: (b) => released.push(b) });
    const dataIns = sent.filter((s) => s.kind === "data-in");
    checkDataIn(dataIns, data, 4096, 8192, false);
    expect(sent.at(-1)!.kind).toBe("response");
    expect(sent.filter((s) => s.kind === "response").length).toBe(1);
    expect(sent.at(-1)!.h.expDataSN).toBe(dataIns.length);
    expect(sent.at(-1)!.statSN).toBe(StatSNUse.ADVANCE);
    dataIns.at(-1)!.onWritten!();
    expect(released.length).toBe(1);
  });

  it("does not hand back a buffer whose write failed (the socket may still hold it)", () => {
    const { c, sent } = port(262144, 262144);
    const released: Buffer[] = [];
    respond(c, readTask(1 << 20), { status: ScsiStatus.GOOD, dataIn: randomBytes(1 << 20), releaseDataIn: (b) => released.push(b) });
    sent.at(-1)!.onWritten!(new Error("EPIPE"));
    expect(released).toEqual([]);
  });

  it("hands back a buffer that sends nothing at once, exactly once", () => {
    const { c, sent } = port(8192, 65536);
    const released: Buffer[] = [];
    const data = randomBytes(4096);
    respond(c, readTask(0), { status: ScsiStatus.GOOD, dataIn: data, releaseDataIn: (b) => released.push(b) });
    expect(sent.filter((s) => s.kind === "data-in")).toEqual([]);
    expect(sent.filter((s) => s.kind === "response").length).toBe(1);
    expect(released.length).toBe(1);
    expect(released[0]).toBe(data);
  });
});
