/**
 * HeaderDigest and DataDigest (CRC32C) against the real server. libiscsi never
 * offers DataDigest, so our own test client drives this one: it negotiates both
 * digests, then writes and reads back data that spans many Data-Out/Data-In PDUs.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { read10, write10 } from "../support/cdb";
import { IscsiClient } from "../support/iscsi-client";
import { startDemo } from "../support/demo";
import { freePort } from "../support/ports";
import { makeDataDir, stopAndRemove, storageDirOf, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.digests00001";
let dataDir: string;
let port: number;
let server: PorticoProcess;

beforeAll(async () => {
  dataDir = makeDataDir();
  port = await freePort();
  server = await startDemo(dataDir, {
    iqn: IQN,
    storageObjects: [{ name: "dd", plugin: "fileio", dev: path.join(storageDirOf(dataDir), "dd.img"), size: 32 * 1024 * 1024 }],
    ports: [port],
  });
});

afterAll(() => stopAndRemove(server, dataDir));

describe("CRC32C digests", () => {
  for (const [label, headerDigest, dataDigest] of [
    ["header and data digests", true, true],
    ["a data digest only", false, true],
  ] as const) {
    it(`negotiates ${label} and moves 1 MiB each way intact`, async () => {
      const c = await IscsiClient.connect(port);
      try {
        const login = await c.login({ targetName: IQN, headerDigest, dataDigest, initiatorName: "iqn.2024-01.org.portico.test:digests" });
        expect(login.statusClass).toBe(0);
        expect(login.keys.DataDigest).toBe("CRC32C");
        expect(login.keys.HeaderDigest).toBe(headerDigest ? "CRC32C" : "None");
        // A new nexus first gets UNIT ATTENTION 29h/00h (power on, reset); TEST UNIT READY takes it, as initiators do.
        const tur = await c.command(Buffer.alloc(16));
        expect(tur.status).toBe(2);
        expect(tur.sense?.[2]! & 0x0f).toBe(0x06);
        const data = randomBytes(1024 * 1024);
        const w = await c.command(write10(100, 2048), { write: data });
        expect(w.status, `sense ${w.sense?.toString("hex")}`).toBe(0);
        const r = await c.command(read10(100, 2048), { readLength: data.length });
        expect(r.status).toBe(0);
        expect(r.dataInPdus).toBeGreaterThan(1);
        expect(r.data.equals(data)).toBe(true);
        expect(await c.logout()).toBe(0);
      } finally {
        c.close();
      }
    });
  }
});
