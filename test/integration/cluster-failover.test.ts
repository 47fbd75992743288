/**
 * Cluster ownership and fencing (issue 14 point 3), against a real single-node Ceph and a real
 * etcd. First the rbd backstore's lock and fencing calls, in this process with two separate
 * Ceph clients (two connections: two gateways as Ceph sees them): the exclusive lock taken in
 * managed mode is not handed over, a broken lock blocklists its holder whose next write fails
 * and never lands, rados_blocklist_add fences a client by its address.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RbdBackstore } from "../../server/engine/backstores/rbd";
import { startCeph, type Ceph } from "../support/ceph";

const MiB = 1024 * 1024;
let ceph: Ceph;

beforeAll(async () => {
  ceph = await startCeph();
}, 180_000);

afterAll(async () => {
  await ceph?.stop();
});

/** A distinct osd_op_timeout gives a distinct Ceph client (connections are shared per conf, id and timeout). */
const configOf = (image: string, client: number) => `rbd/rbd/${image};conf=${ceph.conf};osd_op_timeout=${20 + client}`;

const pattern = (byte: number, n = 4096) => Buffer.alloc(n, byte);

describe("rbd exclusive lock and fencing calls", () => {
  it("a managed lock is not handed over; breaking it blocklists the holder, whose later writes fail and never land", async () => {
    ceph.rbd("create", "--size", "16M", "rbd/lock1");
    const a = await RbdBackstore.open("lock1-a", configOf("lock1", 1), 512);
    const b = await RbdBackstore.open("lock1-b", configOf("lock1", 2), 512);
    try {
      expect(await a.exclusiveLockOwners()).toEqual([]);
      await a.acquireExclusiveLock();
      expect(await a.holdsExclusiveLock()).toBe(true);
      const owners = await b.exclusiveLockOwners();
      expect(owners).toHaveLength(1);
      const addrA = await a.clientAddress();
      expect(addrA).toMatch(/\d+\.\d+\.\d+\.\d+:\d+\/\d+/);
      expect(owners[0]).toContain(addrA.replace(/^v1:/, ""));
      await a.write(0, pattern(0xa1), true);

      // b asks for the lock: a holds it in managed mode and refuses; b's write is refused too.
      await expect(b.acquireExclusiveLock()).rejects.toMatchObject({ code: expect.stringMatching(/EROFS|EBUSY/) });
      await expect(b.write(4096, pattern(0xb1), true)).rejects.toThrow();
      expect((await a.read(4096, 4096)).equals(pattern(0))).toBe(true);

      // b breaks a's lock (as a survivor does with a dead owner's), then takes it.
      const t0 = Date.now();
      await b.breakExclusiveLock(owners[0]!);
      await b.acquireExclusiveLock();
      const takeover = Date.now() - t0;
      expect(await b.holdsExclusiveLock()).toBe(true);
      await b.write(8192, pattern(0xb2), true);

      // a (the "zombie") writes: blocklisted, it fails and the data never lands.
      await expect(a.write(0, pattern(0xee), true)).rejects.toThrow();
      expect(a.blocklisted).toBe(true);
      const image = ceph.rbdBytes("export", "rbd/lock1", "-");
      expect(image.subarray(0, 4096).equals(pattern(0xa1))).toBe(true);
      expect(image.subarray(8192, 12288).equals(pattern(0xb2))).toBe(true);
      expect(ceph.ceph("osd", "blocklist", "ls")).toContain(addrA.replace(/^v1:/, "").split("/")[0]);
      console.log(`rbd lock break + acquire by the survivor: ${takeover} ms`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("release hands the lock over without a break; blocklistClient fences a client by its address", async () => {
    ceph.rbd("create", "--size", "16M", "rbd/lock2");
    const a = await RbdBackstore.open("lock2-a", configOf("lock2", 3), 512);
    const b = await RbdBackstore.open("lock2-b", configOf("lock2", 4), 512);
    try {
      await a.acquireExclusiveLock();
      await a.write(0, pattern(0x11), true);
      await a.releaseExclusiveLock();
      expect(await a.holdsExclusiveLock()).toBe(false);
      expect(await b.exclusiveLockOwners()).toEqual([]);
      // After its own release a (managed mode) does not take the lock back by writing.
      await expect(a.write(4096, pattern(0x12), true)).rejects.toThrow();
      const t0 = Date.now();
      await b.acquireExclusiveLock();
      console.log(`rbd planned hand-over (release, acquire): ${Date.now() - t0} ms`);
      await b.write(4096, pattern(0x21), true);
      // Fencing by address alone (a dead owner that held no lock yet).
      const addrA = await a.clientAddress();
      await b.blocklistClient(addrA, 600);
      await expect(a.read(0, 4096)).rejects.toThrow();
      expect(a.blocklisted).toBe(true);
      const image = ceph.rbdBytes("export", "rbd/lock2", "-");
      expect(image.subarray(0, 4096).equals(pattern(0x11))).toBe(true);
      expect(image.subarray(4096, 8192).equals(pattern(0x21))).toBe(true);
      // fence() gates the backstore on this gateway, unfence lifts only its own reason.
      b.fence("moved to gw-x");
      await expect(b.write(0, pattern(0x31), true)).rejects.toThrow();
      b.fence(undefined);
      await b.write(0, pattern(0x31), true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
