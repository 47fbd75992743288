/**
 * Acknowledged writes survive kill -9 (issue 17: "the kill -9 and FUA tests still pass"; DEVELOPERS.md:
 * acknowledged writes are durable by SCSI's rules). The real appliance serves fileio LUNs on real files;
 * several sessions keep writes in flight (each 4 KiB write goes to a block of its own and carries a stamp
 * naming it); once enough are acknowledged, the process gets SIGKILL mid-stream. Then the files are read
 * directly: every write that got GOOD must be in its file, byte for byte.
 *
 * What it catches: an acknowledgement sent before the data reached the file (GOOD before the io_uring
 * CQE, a response racing its write, a write left in a user-space queue); those blocks are missing after
 * the kill. What a process kill cannot show: the page cache survives it, so the step from the page cache
 * to the disk (O_DSYNC, RWF_DSYNC on FUA) needs a power cut; for that the test checks from /proc that
 * the write-through file is open O_DSYNC, and test/unit/backstores/backstores.test.ts that a FUA write
 * carries RWF_DSYNC.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { write10 } from "../support/cdb";
import { startDemo } from "../support/demo";
import { IscsiClient } from "../support/iscsi-client";
import { freePort } from "../support/ports";
import { makeDataDir, removeDir, storageDirOf, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.kill9durable";
const BLOCK = 4096;
const FILE_BLOCKS = 8192; // 32 MiB: more than the run writes, so every write has a block of its own
const SESSIONS = 4;
const DEPTH = 8;
/** SIGKILL once this many writes are acknowledged (while the rest stay in flight). */
const KILL_AFTER = 1200;

let dataDir: string;
let server: PorticoProcess | undefined;
let port: number;
const files = { through: "", back: "" };

/** The block's content: its index and this run's token, repeated, so a stale or misplaced block shows. */
function stamp(token: Buffer, lun: number, index: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  for (let off = 0; off < BLOCK; off += 32) {
    b.writeUInt32BE(lun, off);
    b.writeUInt32BE(index, off + 4);
    token.copy(b, off + 8, 0, 24);
  }
  return b;
}

/** The WRITE(10) of stamp `index` (BLOCK bytes) on a LUN of `blockSize`-byte blocks. */
function stampWrite(blockSize: number, index: number, fua: boolean): Buffer {
  return write10((index * BLOCK) / blockSize, BLOCK / blockSize, { fua });
}

/** The open-file flags of the appliance's descriptor on `file` (octal in /proc/<pid>/fdinfo). */
function openFlags(pid: number, file: string): number | undefined {
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== fs.realpathSync(file)) continue;
    const m = /^flags:\s+([0-7]+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
    if (m) return parseInt(m[1], 8);
  }
  return undefined;
}

interface Stream {
  lun: number;
  fua: boolean;
  acked: number[];
  /** Sense keys of writes not answered GOOD. */
  refused: number[];
  inflightAtKill: number;
}

beforeAll(async () => {
  dataDir = makeDataDir("portico-kill9-it-");
  port = await freePort();
  files.through = path.join(storageDirOf(dataDir), "through.img");
  files.back = path.join(storageDirOf(dataDir), "back.img");
  server = await startDemo(dataDir, {
    iqn: IQN,
    storageObjects: [
      { name: "through", plugin: "fileio", dev: files.through, size: FILE_BLOCKS * BLOCK, write_back: false },
      { name: "back", plugin: "fileio", dev: files.back, size: FILE_BLOCKS * BLOCK, write_back: true },
    ],
    ports: [port],
  });
}, 180_000);

afterAll(async () => {
  server?.kill();
  removeDir(dataDir);
});

describe("kill -9 during acknowledged fileio writes", () => {
  it("every write acknowledged on a write-through LUN (plain writes) and a write-back LUN (FUA writes) is in its file", async () => {
    const pid = server!.child.pid!;
    // Write-through: the file is open O_DSYNC (each write stable when it returns), write-back is not.
    const through = openFlags(pid, files.through);
    const back = openFlags(pid, files.back);
    expect(through, "the appliance has the write-through file open").toBeDefined();
    expect(through! & fs.constants.O_DSYNC).toBe(fs.constants.O_DSYNC);
    expect(back! & fs.constants.O_DSYNC).toBe(0);

    const token = randomBytes(24);
    const clients: IscsiClient[] = [];
    const streams: Stream[] = [];
    let acked = 0;
    let killed = false;
    let reachedKill!: () => void;
    const killPoint = new Promise<void>((r) => (reachedKill = r));
    // Each session writes one LUN; a shared counter per LUN gives every write a block of its own.
    const next = [0, 0];
    for (let s = 0; s < SESSIONS; s++) {
      const c = await IscsiClient.connect(port);
      const login = await c.login({ targetName: IQN, initiatorName: `iqn.2026-12.org.portico.test:kill9-${s}`, isid: `40000137${(s + 1).toString(16).padStart(4, "0")}` });
      expect(login.statusClass).toBe(0);
      clients.push(c);
    }
    // Block size per LUN (READ CAPACITY(10)), and the power-on unit attention taken before the run.
    const blockSize: number[] = [];
    for (const lun of [0, 1]) {
      const cap = Buffer.alloc(10);
      cap[0] = 0x25;
      let r = await clients[0].command(cap, { lun, readLength: 8 });
      if (r.status !== 0) r = await clients[0].command(cap, { lun, readLength: 8 });
      expect(r.status).toBe(0);
      blockSize[lun] = r.data.readUInt32BE(4);
    }
    for (let s = 0; s < SESSIONS; s++) {
      const stream: Stream = { lun: s % 2, fua: s % 2 === 1, acked: [], refused: [], inflightAtKill: 0 };
      streams.push(stream);
    }
    const inflight = streams.map(() => 0);
    const workers = streams.flatMap((st, s) =>
      Array.from({ length: DEPTH }, async () => {
        while (!killed) {
          const index = next[st.lun]++;
          if (index >= FILE_BLOCKS) return;
          inflight[s]++;
          try {
            const r = await clients[s].command(stampWrite(blockSize[st.lun], index, st.fua), { lun: st.lun, write: stamp(token, st.lun, index) });
            // Not GOOD is not an acknowledgement (the block is not checked); only the power-on unit attention is expected.
            if (r.status !== 0) {
              st.refused.push(r.sense ? r.sense[2] & 0x0f : -1);
              continue;
            }
            st.acked.push(index);
            if (++acked === KILL_AFTER) reachedKill();
          } catch {
            return; // connection closed by the kill: this write was not acknowledged
          } finally {
            inflight[s]--;
          }
        }
      }),
    );
    await killPoint;
    streams.forEach((st, s) => (st.inflightAtKill = inflight[s]));
    killed = true;
    process.kill(pid, "SIGKILL");
    await Promise.all(workers);
    await Promise.all(clients.map((c) => c.closed));
    expect(server!.child.signalCode ?? (await new Promise((r) => server!.child.once("exit", (_c, sig) => r(sig))))).toBe("SIGKILL");

    // Nothing refused but the first command of a session on a LUN (UNIT ATTENTION, sense key 6).
    for (const st of streams) expect(st.refused.filter((k) => k !== 6)).toEqual([]);
    // The kill came in the middle of the stream, not after it drained.
    expect(streams.reduce((n, st) => n + st.inflightAtKill, 0)).toBeGreaterThan(0);
    for (const lun of [0, 1]) {
      const file = fs.readFileSync(lun === 0 ? files.through : files.back);
      const ackedHere = streams.filter((st) => st.lun === lun).flatMap((st) => st.acked);
      expect(ackedHere.length, `writes acknowledged on LUN ${lun}`).toBeGreaterThan(100);
      const missing = ackedHere.filter((index) => !file.subarray(index * BLOCK, (index + 1) * BLOCK).equals(stamp(token, lun, index)));
      expect(missing, `acknowledged blocks not in ${lun === 0 ? "the write-through" : "the write-back (FUA)"} file`).toEqual([]);
    }
  });
});
