/**
 * Issue 15 item 1 against the real appliance process: the sign-in limit cannot be
 * bypassed with a tRPC batch or with parallel requests, and a flood of sign-in guesses
 * does not stall storage (password hashing stays off the libuv thread pool that fileio
 * reads go through).
 *
 * Sources: every 127.0.0.0/8 address reaches the server on 127.0.0.1, so a client bound
 * to 127.0.1.x is "another machine" to the per-address limiter.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemo } from "../support/demo";
import { IscsiClient } from "../support/iscsi-client";
import { freePort } from "../support/ports";
import { httpRequest, makeDataDir, sh, stopAndRemove, storageDirOf, type PorticoProcess } from "../support/portico";
import { read10 } from "./monitor-support";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.loginflood";
const PASSWORD = "correct horse battery";
const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

let dataDir: string;
let iscsiPort: number;
let server: PorticoProcess;
let setupCode: string;

/** One HTTP request from a chosen loopback source address. */
const request = (opts: Parameters<typeof httpRequest>[1]) => httpRequest(server, opts);

const login = (password: string, from: string) => request({ path: "/api/trpc/auth.login", body: { json: { username: "admin", password } }, from });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Latencies (ms) of at least `n` sequential 4 KiB READs at spread-out offsets of LUN 0, for at least `minMs`. */
async function readLatencies(c: IscsiClient, n: number, minMs = 0): Promise<number[]> {
  const out: number[] = [];
  const blocks = SIZE / 512;
  const start = Date.now();
  for (let i = 0; i < n || Date.now() - start < minMs; i++) {
    const lba = ((i * 7919) % (blocks / 8)) * 8;
    const t0 = process.hrtime.bigint();
    const r = await c.command(read10(lba, 8), { readLength: 4096 });
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    expect(r.status).toBe(0);
  }
  return out;
}

/**
 * A sign-in flood from another process (so the measuring process stays idle): `workers`
 * loops, each sending a wrong guess, waiting for the answer and `pauseMs`, rotating over
 * 200 source addresses (each may try a few times before it is locked out, so hashing
 * really goes on all the time), with a 400-guess tRPC batch every 50 requests. The pause
 * keeps this a flood of guesses, not of HTTP requests: hundreds of cheap requests a second
 * load the event loop whatever they ask for, which is not what this test is about.
 * Runs until killed.
 */
function startFlood(workers: number, pauseMs: number) {
  const script = `
const http = require("node:http");
const port = ${server.httpPort};
let n = 0, sent = 0;
function post(path, body, from) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", localAddress: from, agent: false,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) } }, (res) => { res.resume(); res.on("end", resolve); });
    req.on("error", resolve);
    req.end(data);
  });
}
const batch = {};
for (let i = 0; i < 400; i++) batch[i] = { json: { username: "admin", password: "batch-" + i } };
const batchPath = "/api/trpc/" + Array(400).fill("auth.login").join(",") + "?batch=1";
async function loop(w) {
  for (;;) {
    const i = n++;
    const from = "127.0.1." + (1 + (i % 200));
    if (i % 50 === 0) await post(batchPath, batch, from);
    else await post("/api/trpc/auth.login", { json: { username: "admin", password: "flood-" + i } }, from);
    sent++;
    await new Promise((r) => setTimeout(r, ${pauseMs}));
  }
}
for (let w = 0; w < ${workers}; w++) loop(w);
setInterval(() => process.stdout.write(sent + "\\n"), 500);
`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let last = 0;
  child.stdout.on("data", (d: Buffer) => {
    const lines = d.toString().trim().split("\n");
    last = Number(lines[lines.length - 1]) || last;
  });
  return { sent: () => last, stop: () => child.kill("SIGKILL") };
}

beforeAll(async () => {
  dataDir = makeDataDir();
  iscsiPort = await freePort();
  const file = path.join(storageDirOf(dataDir), "flood.img"); // never in the data directory: the appliance refuses its own files
  sh("truncate", ["-s", String(SIZE), file]);
  // libuv's default pool of 4 threads, as the appliance runs in production (the test helper otherwise raises it to 32).
  server = await startDemo(
    dataDir,
    { iqn: IQN, storageObjects: [{ name: "flood", plugin: "fileio", dev: file, size: SIZE, write_back: false }], ports: [iscsiPort] },
    { env: { UV_THREADPOOL_SIZE: "4" } },
  );
  setupCode = readFileSync(path.join(dataDir, "setup-code"), "utf8").trim();
  const done = await request({
    path: "/api/trpc/onboarding.complete",
    headers: { "x-portico-setup-code": setupCode },
    body: { json: { admin: { username: "admin", password: PASSWORD, confirm: PASSWORD }, appliance: { name: "flood", iqnPrefix: "iqn.2003-01.org.linux-iscsi.flood.x8664" }, storage: { kind: "none" } } },
  });
  expect(done.status, done.body).toBe(200);
});

afterAll(() => stopAndRemove(server, dataDir));

describe("start-up", () => {
  it("the ready line names the setup-code file but, stdout not being a terminal, not the code (issue 15 item 7)", () => {
    expect(server.output()).toContain(`onboarding setup code in ${path.join(dataDir, "setup-code")}`);
    expect(server.output()).not.toContain(setupCode);
  });
});

describe("sign-in guessing", () => {
  it("a batch of 40 guesses with the right password last gets no session", async () => {
    const body: Record<number, unknown> = {};
    for (let i = 0; i < 40; i++) body[i] = { json: { username: "admin", password: i === 39 ? PASSWORD : `guess-${i}` } };
    const r = await request({ path: `/api/trpc/${Array(40).fill("auth.login").join(",")}?batch=1`, body, from: "127.0.0.2" });
    expect(r.cookie).toBeUndefined();
    // Refused whole (more calls than the server's batch limit), or call by call: either way no call succeeds.
    const parsed = JSON.parse(r.body) as unknown;
    const items = (Array.isArray(parsed) ? parsed : [parsed]) as { result?: unknown; error?: unknown }[];
    expect(items.length).toBeGreaterThan(0);
    expect(items.filter((i) => i.result || !i.error)).toHaveLength(0);
  });

  it("20 parallel guesses with the right password last get no session; only 5 are evaluated", async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => login(i === 19 ? PASSWORD : `parallel-${i}`, "127.0.0.3")));
    expect(replies.filter((r) => r.cookie)).toHaveLength(0);
    expect(replies.filter((r) => r.status === 400)).toHaveLength(5); // wrong password, evaluated
    expect(replies.filter((r) => r.status === 429)).toHaveLength(15); // refused before hashing
  });

  it("the right password from a fresh address still signs in", async () => {
    const r = await login(PASSWORD, "127.0.0.4");
    expect(r.status, r.body).toBe(200);
    expect(r.cookie).toMatch(/^portico_session=/);
  });
});

describe("storage during a sign-in flood", () => {
  it("fileio READ latency (median) stays within 2× of idle", async () => {
    const c = await IscsiClient.connect(iscsiPort);
    expect((await c.login({ initiatorName: "iqn.2024-01.org.portico.test:flood", targetName: IQN })).statusClass).toBe(0);
    for (let i = 0; i < 5 && (await c.command(Buffer.alloc(6))).status !== 0; i++); // the power-on unit attention
    await readLatencies(c, 100); // warm the page cache and the JIT
    // Other work on a shared machine moves sub-millisecond medians too, so a round that lands
    // on a load spike is measured again (at most 3 rounds; the best one counts). Before the
    // fix no round came close: READs waited seconds behind queued hashes, or got no answer.
    const rounds: { idle: number; busy: number; answered: number }[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const idleBefore = await readLatencies(c, 300);
        const flood = startFlood(16, 100);
        try {
          // Let the flood get going (guesses hashing, the rest queued or refused) before measuring.
          await new Promise((r) => setTimeout(r, 2_000));
          const sentBefore = flood.sent();
          const during = await readLatencies(c, 300, 4_000);
          const answered = flood.sent() - sentBefore;
          flood.stop();
          await new Promise((r) => setTimeout(r, 1_000));
          const idleAfter = await readLatencies(c, 300);
          const r = { idle: median([...idleBefore, ...idleAfter]), busy: median(during), answered };
          rounds.push(r);
          console.log(`round ${round + 1}: fileio READ 4 KiB median idle ${r.idle.toFixed(3)} ms, during the flood ${r.busy.toFixed(3)} ms (${(r.busy / r.idle).toFixed(2)}×), ${answered} sign-in requests answered meanwhile`);
          if (r.busy <= 2 * r.idle) break;
        } finally {
          flood.stop();
        }
      }
      const best = rounds.reduce((x, y) => (y.busy / y.idle < x.busy / x.idle ? y : x));
      expect(best.busy).toBeLessThanOrEqual(2 * best.idle);
      expect(best.answered, "sign-in requests kept being answered while storage was measured").toBeGreaterThan(20);
    } finally {
      await c.logout().catch(() => undefined);
      c.close();
    }
  });
});
