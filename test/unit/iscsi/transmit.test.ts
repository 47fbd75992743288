import { afterEach, describe, expect, it } from "vitest";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { DataIn, NopIn, type DataInHeader } from "../../../server/engine/iscsi/pdu";
import { COPY_MAX, Transmitter, slabTop } from "../../../server/engine/iscsi/transmit";
import { encodePduBuffer } from "../../support/pdu-wire";

/** A connected pair on 127.0.0.1: `server` is the side the Transmitter writes to. */
async function pair(): Promise<{ server: net.Socket; client: net.Socket; close(): void }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => srv.once("connection", r));
  const client = net.connect((srv.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise((r) => client.once("connect", r));
  const server = await accepted;
  return { server, client, close: () => { client.destroy(); server.destroy(); srv.close(); } };
}

/** Collects everything the client receives until `n` bytes have arrived. */
function receive(client: net.Socket, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    client.on("data", (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) resolve(Buffer.concat(chunks));
    });
    client.resume();
  });
}

function dataIn(i: number): DataInHeader {
  return {
    final: true, ack: false, overflow: false, underflow: false, hasStatus: true, status: 0, lun: 0, itt: i, ttt: 0xffffffff,
    statSN: i, expCmdSN: i + 1, maxCmdSN: i + 32, dataSN: 0, bufferOffset: 0, residualCount: 0,
  };
}

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

describe("Transmitter (transmit.ts)", () => {
  it("sends the same bytes as the reference encoder, digests, pads and large views included", async () => {
    const p = await pair();
    cleanup = p.close;
    const tx = new Transmitter(p.server);
    const expected: Buffer[] = [];
    const written: string[] = [];
    const sizes = [0, 1, 3, 4096, COPY_MAX, COPY_MAX + 1, 65536 + 2];
    for (const [i, n] of sizes.entries()) {
      for (const digests of [false, true]) {
        const data = n ? randomBytes(n) : undefined;
        const h = dataIn(i);
        tx.add(DataIn, h, data, digests, digests, () => written.push(`${i}/${digests}`));
        expected.push(encodePduBuffer(DataIn, h, data, { headerDigest: digests, dataDigest: digests }));
      }
    }
    tx.add(NopIn, { final: true, lun: 0, itt: 0xffffffff, ttt: 7, statSN: 1, expCmdSN: 2, maxCmdSN: 3 }, undefined, false, false);
    expected.push(encodePduBuffer(NopIn, { final: true, lun: 0, itt: 0xffffffff, ttt: 7, statSN: 1, expCmdSN: 2, maxCmdSN: 3 }, undefined));
    const want = Buffer.concat(expected);
    const got = receive(p.client, want.length);
    tx.flush();
    expect((await got).equals(want)).toBe(true);
    await new Promise((r) => setImmediate(r));
    // Every PDU's callback ran once (no or copied data at once, large views when written).
    expect(written.length).toBe(sizes.length * 2);
    expect(new Set(written).size).toBe(sizes.length * 2);
  });

  it("gives a range back when the socket wrote it at once, so the next answer reuses the same bytes", async () => {
    const p = await pair();
    cleanup = p.close;
    const tx = new Transmitter(p.server);
    const got = receive(p.client, 2 * (48 + 4096));
    tx.add(DataIn, dataIn(1), Buffer.alloc(4096, 1), false, false);
    const before = slabTop();
    tx.flush();
    expect(p.server.writableLength).toBe(0);
    const after = slabTop();
    expect(after.slab).toBe(before.slab);
    expect(after.used).toBe(before.used - (48 + 4096));
    tx.add(DataIn, dataIn(2), Buffer.alloc(4096, 2), false, false);
    tx.flush();
    const bytes = await got;
    expect(bytes[48]).toBe(1);
    expect(bytes[48 + 4096 + 48]).toBe(2);
  });

  it("never rewrites a range the socket still holds (peer not reading, writes queued in Node)", async () => {
    const p = await pair();
    cleanup = p.close;
    p.client.pause(); // the peer reads nothing: the kernel buffers fill, then Node queues
    const tx = new Transmitter(p.server);
    const expected: Buffer[] = [];
    let i = 0;
    // Fill until Node itself holds queued bytes (the write went asynchronous).
    while (p.server.writableLength === 0 && i < 100_000) {
      const data = Buffer.alloc(4096, i & 0xff);
      tx.add(DataIn, dataIn(i), data, false, false);
      expected.push(encodePduBuffer(DataIn, dataIn(i), data));
      tx.flush();
      i++;
    }
    expect(p.server.writableLength).toBeGreaterThan(0);
    const queuedTop = slabTop();
    // More answers while those bytes wait: they must go above them, not over them.
    for (let k = 0; k < 200; k++, i++) {
      const data = Buffer.alloc(4096, (i * 7) & 0xff);
      tx.add(DataIn, dataIn(i), data, false, false);
      expected.push(encodePduBuffer(DataIn, dataIn(i), data));
      tx.flush();
      const top = slabTop();
      if (top.slab === queuedTop.slab) expect(top.used).toBeGreaterThan(queuedTop.used);
    }
    const want = Buffer.concat(expected);
    const got = receive(p.client, want.length);
    const bytes = await got;
    expect(bytes.length).toBe(want.length);
    // Byte for byte: no queued header or copied data was overwritten before the socket took it.
    expect(bytes.equals(want)).toBe(true);
  }, 30_000);

  it("drop() forgets what was queued and gives its unsent range back", async () => {
    const p = await pair();
    cleanup = p.close;
    const tx = new Transmitter(p.server);
    const before = slabTop();
    tx.add(DataIn, dataIn(1), Buffer.alloc(100), false, false);
    expect(tx.pending).toBe(true);
    tx.drop();
    expect(tx.pending).toBe(false);
    expect(slabTop().used).toBe(before.slab === slabTop().slab ? before.used : 0);
  });
});
