/**
 * The peer link (server/cluster/peer-link.ts): the frame codec, then a real PeerServer and
 * PeerClient over loopback TCP in front of a real ramdisk backstore: every forwarded operation
 * gives what the backstore itself gives, and every way the owner can fail to answer (not serving,
 * wrong token, the process gone, a stopped process, the owner lost) is a retryable NOT READY
 * 04h/0Ah, never a success.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { openBackstore } from "@/server/engine/backstores";
import type { Backstore } from "@/server/engine/backstores/backstore";
import { SenseError, SenseKey } from "@/server/engine/scsi/sense";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, FrameReader, PeerClient, PeerOp, PeerServer, PeerStatus } from "@/server/cluster/peer-link";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function ramdisk(): Promise<Backstore> {
  const bs = await openBackstore({ plugin: "ramdisk", name: "lu0", size: 1 << 20, blockSize: 512 });
  cleanups.push(() => bs.close());
  return bs;
}

/** The ramdisk plus rbd's optional atomics (COMPARE AND WRITE, WRITE SAME), done in memory as rbd does on the OSD. */
function withAtomics(bs: Backstore): Backstore {
  return Object.assign(Object.create(bs) as Backstore, {
    async compareAndWrite(offset: number, compare: Buffer, data: Buffer, fua: boolean): Promise<number> {
      const now = Buffer.from(await bs.read(offset, compare.length));
      for (let i = 0; i < now.length; i++) if (now[i] !== compare[i]) return i;
      await bs.write(offset, data, fua);
      return -1;
    },
    async writeSame(offset: number, length: number, block: Buffer): Promise<void> {
      for (let at = 0; at < length; at += block.length) await bs.write(offset + at, block, false);
    },
  });
}

async function serve(bs: Backstore | null, token = "secret"): Promise<{ server: PeerServer; address: string; serving: { bs: Backstore | null } }> {
  const serving = { bs };
  const server = new PeerServer(token, (lu) => (lu === "lu0" ? serving.bs : null));
  const address = await server.listen("127.0.0.1", 0);
  cleanups.push(() => server.close());
  return { server, address, serving };
}

function client(timeoutMs?: number): PeerClient {
  const c = new PeerClient(timeoutMs);
  cleanups.push(() => c.close());
  return c;
}

const isRetryable = (e: unknown) => e instanceof SenseError && e.key === SenseKey.NOT_READY && e.code[0] === 0x04 && e.code[1] === 0x0a;

describe("peer link frames", () => {
  it("requests and responses survive encode/decode, split into any chunks", () => {
    const data = Buffer.alloc(4096, 0xab);
    const cmp = Buffer.alloc(512, 1);
    const frames = [
      ...encodeRequest({ id: 7, op: PeerOp.WRITE, fua: true, lu: "disk-é", offset: 2 ** 40, length: 4096, buf1: data }),
      ...encodeRequest({ id: 8, op: PeerOp.CAW, fua: false, lu: "d", offset: 512, length: 512, buf1: cmp, buf2: data.subarray(0, 512) }),
    ];
    const stream = Buffer.concat(frames);
    for (const step of [1, 3, 17, 4096, stream.length]) {
      const got: ReturnType<typeof decodeRequest>[] = [];
      const r = new FrameReader((f) => got.push(decodeRequest(Buffer.from(f))));
      for (let i = 0; i < stream.length; i += step) r.push(stream.subarray(i, i + step));
      expect(got.map((g) => [g.id, g.op, g.fua, g.lu, g.offset, g.length])).toEqual([
        [7, PeerOp.WRITE, true, "disk-é", 2 ** 40, 4096],
        [8, PeerOp.CAW, false, "d", 512, 512],
      ]);
      expect(got[0]!.buf1!.equals(data)).toBe(true);
      expect(got[1]!.buf1!.equals(cmp)).toBe(true);
      expect(got[1]!.buf2!.equals(data.subarray(0, 512))).toBe(true);
    }
    const res = Buffer.concat(encodeResponse({ id: 9, status: PeerStatus.SENSE, senseKey: 2, asc: 4, ascq: 0x0a, value: -1, message: "why", data: Buffer.from("xyz") }));
    expect(decodeResponse(res)).toMatchObject({ id: 9, status: PeerStatus.SENSE, senseKey: 2, asc: 4, ascq: 0x0a, value: -1, message: "why" });
    expect(decodeResponse(res).data!.toString()).toBe("xyz");
  });

  it("a frame length out of range or a truncated header is refused", () => {
    const r = new FrameReader(() => undefined);
    const bad = Buffer.alloc(8);
    bad.writeUInt32LE(0xffffffff, 0);
    expect(() => r.push(bad)).toThrow(/out of range/);
    expect(() => decodeRequest(Buffer.alloc(10))).toThrow(/shorter/);
    expect(() => decodeResponse(Buffer.alloc(10))).toThrow(/shorter/);
  });
});

describe("forwarding over the peer link", () => {
  it("every data operation through the link gives what the backstore gives", async () => {
    const bs = withAtomics(await ramdisk());
    const { address } = await serve(bs);
    const io = client().forwarder("lu0", { address, token: "secret" });
    const data = Buffer.alloc(8192);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    await io.write(4096, data, true);
    const into = Buffer.alloc(8192);
    expect(await io.read(4096, 8192, into)).toBe(into);
    expect(into.equals(data)).toBe(true);
    expect((await bs.read(4096, 8192)).equals(data)).toBe(true);
    await io.flush();
    // COMPARE AND WRITE: written on a match, the first differing byte on a miscompare.
    expect(await io.compareAndWrite(4096, data.subarray(0, 512), Buffer.alloc(512, 0xcc), false)).toBe(-1);
    expect((await bs.read(4096, 512)).equals(Buffer.alloc(512, 0xcc))).toBe(true);
    const wrong = Buffer.alloc(512, 0xcc);
    wrong[100] = 0;
    expect(await io.compareAndWrite(4096, wrong, Buffer.alloc(512, 0xdd), false)).toBe(100);
    // WRITE SAME and UNMAP land on the backstore; status says what is mapped.
    await io.writeSame(65536, 4096, Buffer.alloc(512, 0x42));
    expect((await bs.read(65536, 4096)).equals(Buffer.alloc(4096, 0x42))).toBe(true);
    await io.unmap(4096, 8192);
    expect((await bs.read(4096, 8192)).equals(Buffer.alloc(8192))).toBe(true);
    const st = await io.status(0, 1 << 20);
    const direct = bs.status ? await bs.status(0, 1 << 20) : { mapped: true, length: 1 << 20 };
    expect(st).toEqual(direct);
    // Concurrent requests on one link are matched to their answers.
    const reads = await Promise.all(Array.from({ length: 32 }, (_, i) => io.write(i * 512, Buffer.alloc(512, i), false).then(() => io.read(i * 512, 512, Buffer.alloc(512)))));
    reads.forEach((b, i) => expect(b.equals(Buffer.alloc(512, i))).toBe(true));
  });

  it("the owner's SCSI errors come back as they are; a node that does not serve the LU answers retryably", async () => {
    const bs = await ramdisk();
    const { address, serving } = await serve(bs);
    const io = client().forwarder("lu0", { address, token: "secret" });
    const fenced: Backstore = { ...bs, write: () => Promise.reject(new SenseError(SenseKey.NOT_READY, [0x04, 0x03])) } as Backstore;
    serving.bs = fenced;
    await expect(io.write(0, Buffer.alloc(512), false)).rejects.toMatchObject({ key: SenseKey.NOT_READY, code: [0x04, 0x03] });
    serving.bs = null; // handed over, or lost its lease
    const e = await io.write(0, Buffer.alloc(512, 9), true).catch((x: unknown) => x);
    expect(isRetryable(e)).toBe(true);
    expect((await bs.read(0, 512)).equals(Buffer.alloc(512))).toBe(true);
    const other = client().forwarder("other-lu", { address, token: "secret" });
    expect(isRetryable(await other.read(0, 512, Buffer.alloc(512)).catch((x: unknown) => x))).toBe(true);
  });

  it("a wrong token is refused and nothing is written", async () => {
    const bs = await ramdisk();
    const { address } = await serve(bs);
    const io = client().forwarder("lu0", { address, token: "guess" });
    expect(isRetryable(await io.write(0, Buffer.alloc(512, 1), true).catch((x: unknown) => x))).toBe(true);
    expect((await bs.read(0, 512)).equals(Buffer.alloc(512))).toBe(true);
  });

  it("no owner listening, the owner closing mid-request, a stopped owner and a dropped owner: retryable, never a success", async () => {
    // Nothing listens there.
    const gone = await new Promise<number>((r) => {
      const s = net.createServer().listen(0, "127.0.0.1", () => {
        const port = (s.address() as net.AddressInfo).port;
        s.close(() => r(port));
      });
    });
    const c = client(1_000);
    expect(isRetryable(await c.forwarder("lu0", { address: `127.0.0.1:${gone}`, token: "secret" }).read(0, 512, Buffer.alloc(512)).catch((x: unknown) => x))).toBe(true);

    // An owner that never answers (a stopped process: accepts, reads, says nothing) fails on the timeout...
    const silent = net.createServer((s) => s.on("data", () => undefined));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
    const silentAddr = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const t0 = Date.now();
    expect(isRetryable(await c.forwarder("lu0", { address: silentAddr, token: "secret" }).write(0, Buffer.alloc(512), true).catch((x: unknown) => x))).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    // ...or at once when ownership says that owner is gone (drop), well before the timeout.
    const c2 = client(60_000);
    const pending = c2.forwarder("lu0", { address: silentAddr, token: "secret" }).write(0, Buffer.alloc(512), true).catch((x: unknown) => x);
    await new Promise((r) => setTimeout(r, 100));
    expect(c2.inflight).toBe(1);
    c2.drop(silentAddr, "gw-a no longer owns lu0");
    const e = await pending;
    expect(isRetryable(e)).toBe(true);
    expect((e as Error).message).toMatch(/no longer owns/);

    // The owner's link closes with requests in flight (kill -9): those fail retryably, later ones reconnect.
    const bs = await ramdisk();
    const slow: Backstore = { ...bs, write: () => new Promise<void>(() => undefined) } as Backstore;
    const { server, address, serving } = await serve(slow);
    const c3 = client(60_000);
    const io = c3.forwarder("lu0", { address, token: "secret" });
    const w = io.write(0, Buffer.alloc(512, 5), true).catch((x: unknown) => x);
    await new Promise((r) => setTimeout(r, 100));
    await server.close();
    expect(isRetryable(await w)).toBe(true);
    serving.bs = bs;
    expect(isRetryable(await io.read(0, 512, Buffer.alloc(512)).catch((x: unknown) => x))).toBe(true);
  });
});
