import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { readIntoReusedBuffer } from "../../../server/engine/iscsi/receive-buffer";

/**
 * Accepted sockets read into one buffer that every connection shares (receive-buffer.ts): each
 * connection must still get exactly its own bytes, in order, while others send at the same time.
 */
describe("readIntoReusedBuffer", () => {
  const closers: (() => void)[] = [];
  afterEach(() => closers.splice(0).forEach((c) => c()));

  it("two connections sending at once each get their own bytes, read into the same memory", async () => {
    const SIZE = 4096;
    const PER_CLIENT = 1024 * 1024;
    const received = new Map<number, Buffer[]>();
    const memory = new Set<ArrayBufferLike>();
    let attached = 0;
    const attachedOk: boolean[] = [];
    const done = new Map<number, () => void>();
    const server = net.createServer((socket) => {
      const id = attached++;
      received.set(id, []);
      let total = 0;
      const ok = readIntoReusedBuffer(socket, SIZE, (chunk) => {
        memory.add(chunk.buffer);
        received.get(id)!.push(Buffer.from(chunk)); // a copy: the view is valid only during the call
        total += chunk.length;
        if (total === PER_CLIENT) done.get(id)?.();
      });
      attachedOk.push(ok); // asserted below: an expect in this callback would be an unhandled error, not a failed test
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    closers.push(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const payload = (seed: number) => {
      const b = Buffer.alloc(PER_CLIENT);
      for (let i = 0; i < b.length; i++) b[i] = (i * 7 + seed * 131 + (i >> 12)) & 0xff;
      return b;
    };
    const sent = [payload(1), payload(2)];
    const finished = [0, 1].map((id) => new Promise<void>((r) => done.set(id, r)));
    const clients = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<net.Socket>((r) => {
            const c = net.connect(port, "127.0.0.1", () => r(c));
          }),
      ),
    );
    closers.push(() => clients.forEach((c) => c.destroy()));
    // Interleaved writes of 3 KiB and 5 KiB pieces, so that reads of both connections alternate.
    const at = [0, 0];
    const piece = [3072, 5120];
    for (let round = 0; at.some((a) => a < PER_CLIENT); round++) {
      for (const [i, c] of clients.entries()) {
        if (at[i] >= PER_CLIENT) continue;
        c.write(sent[i].subarray(at[i], Math.min(at[i] + piece[i], PER_CLIENT)));
        at[i] += piece[i];
      }
      if (round % 16 === 15) await new Promise((r) => setImmediate(r));
    }
    await Promise.race([Promise.all(finished), new Promise((_, j) => setTimeout(() => j(new Error("timeout")), 10_000))]);
    expect(attachedOk).toEqual([true, true]);
    // Connection ids follow accept order, which follows connect order on loopback.
    const got = [0, 1].map((id) => Buffer.concat(received.get(id)!));
    expect(got.map((g) => g.length).sort()).toEqual([PER_CLIENT, PER_CLIENT]);
    const matches = got.map((g) => sent.findIndex((s) => s.equals(g)));
    expect(matches.sort()).toEqual([0, 1]);
    // Both connections' reads landed in one ArrayBuffer.
    expect(memory.size).toBe(1);
  });
});
