/**
 * Admin passwords: scrypt from node:crypto (memory-hard), a random 16-byte salt per
 * password, parameters stored with the hash so they can be raised later.
 *
 * Where the hashing runs matters as much as how: `crypto.scrypt` (async) runs on libuv's
 * thread pool, the same pool fileio and block backstores read and write through, so a
 * burst of sign-in guesses (each 32 MiB and ~100 ms of CPU) queued storage IO behind it
 * (READ latency 0.13 ms → 16.7 s during a 400-guess batch). Hashes therefore run in a
 * worker thread of their own (scryptSync there blocks only that thread), at most
 * HASH_CONCURRENCY at once, with at most HASH_QUEUE waiting; anything beyond is refused
 * at once with PasswordBusyError rather than queued without bound.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { Worker } from "node:worker_threads";

const N = 1 << 15;
const R = 8;
const P = 1;
const KEY_LEN = 64;
// 128 * N * r bytes = 32 MiB; Node's default maxmem (32 MiB) is just too small.
const MAXMEM = 64 * 1024 * 1024;

/** Password hashes computed at the same time (one core of a small appliance; the rest is for storage). */
export const HASH_CONCURRENCY = 1;
/** Hashes that may wait for a free worker; more are refused (PasswordBusyError). */
export const HASH_QUEUE = 8;

/** Too many password checks are already running or waiting: the caller should answer "busy", not wait. */
export class PasswordBusyError extends Error {
  constructor() {
    super("the appliance is busy checking other sign-ins: try again in a few seconds");
    this.name = "PasswordBusyError";
  }
}

interface HashJob {
  password: string;
  salt: Buffer;
  keyLen: number;
  N: number;
  r: number;
  p: number;
}

// Plain CommonJS evaluated in the worker (no TypeScript loader needed there, under tsx, vitest or a build).
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { scryptSync } = require("node:crypto");
parentPort.on("message", (m) => {
  try {
    const key = scryptSync(m.password, Buffer.from(m.salt), m.keyLen, { N: m.N, r: m.r, p: m.p, maxmem: ${MAXMEM} });
    parentPort.postMessage({ id: m.id, key });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) });
  }
});
`;

interface Slot {
  worker: Worker;
  busy?: { id: number; resolve: (key: Buffer) => void; reject: (err: Error) => void };
}

/** A fixed set of hashing workers and a bounded queue in front of them. */
export class PasswordHasher {
  private readonly slots: Slot[] = [];
  private readonly waiting: { job: HashJob; resolve: (key: Buffer) => void; reject: (err: Error) => void }[] = [];
  private nextId = 1;

  constructor(
    readonly concurrency = HASH_CONCURRENCY,
    readonly queueLimit = HASH_QUEUE,
  ) {}

  /** Hashes running plus waiting (for tests and metrics). */
  get load(): number {
    return this.slots.filter((s) => s.busy).length + this.waiting.length;
  }

  derive(job: HashJob): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const slot = this.freeSlot();
      if (slot) return this.run(slot, job, resolve, reject);
      if (this.waiting.length >= this.queueLimit) return reject(new PasswordBusyError());
      this.waiting.push({ job, resolve, reject });
    });
  }

  private freeSlot(): Slot | undefined {
    const idle = this.slots.find((s) => !s.busy);
    if (idle) return idle;
    if (this.slots.length >= this.concurrency) return undefined;
    const slot: Slot = { worker: this.spawn() };
    this.slots.push(slot);
    return slot;
  }

  private spawn(): Worker {
    // execArgv [] : the worker needs no loader (tsx) and no inspector.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    worker.unref(); // an idle hasher never keeps the process alive
    worker.on("message", (m: { id: number; key?: Uint8Array; error?: string }) => {
      const slot = this.slots.find((s) => s.worker === worker);
      const busy = slot?.busy;
      if (!slot || !busy || busy.id !== m.id) return;
      slot.busy = undefined;
      if (m.error !== undefined || !m.key) busy.reject(new Error(m.error ?? "no key"));
      else busy.resolve(Buffer.from(m.key));
      this.next(slot);
    });
    const lost = (err: Error) => {
      const i = this.slots.findIndex((s) => s.worker === worker);
      if (i < 0) return;
      const [slot] = this.slots.splice(i, 1);
      slot!.busy?.reject(err);
      // Whatever waited gets a fresh worker.
      if (this.waiting.length === 0) return;
      const again = this.freeSlot();
      if (again) this.next(again);
    };
    worker.on("error", lost);
    worker.on("exit", (code) => lost(new Error(`password worker exited (${code})`)));
    return worker;
  }

  private next(slot: Slot): void {
    const w = this.waiting.shift();
    if (w) this.run(slot, w.job, w.resolve, w.reject);
    else slot.worker.unref(); // idle again: it never keeps the process alive
  }

  private run(slot: Slot, job: HashJob, resolve: (key: Buffer) => void, reject: (err: Error) => void): void {
    const id = this.nextId++;
    slot.busy = { id, resolve, reject };
    slot.worker.ref(); // a hash in progress keeps the process alive until its answer arrives
    slot.worker.postMessage({ id, ...job, salt: new Uint8Array(job.salt) });
  }
}

/** The process's one hasher: the limit holds across login, password change and onboarding. */
export const passwordHasher = new PasswordHasher();

function derive(password: string, salt: Buffer, params: { N: number; r: number; p: number }, keyLen: number): Promise<Buffer> {
  return passwordHasher.derive({ password: password.normalize("NFKC"), salt, keyLen, ...params });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, { N, r: R, p: P }, KEY_LEN);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64")}$${key.toString("base64")}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [n, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], "base64");
  const expected = Buffer.from(parts[5], "base64");
  const key = await derive(password, salt, { N: n!, r: r!, p: p! }, expected.length);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Verifying against this when the user does not exist keeps the response time the same. */
export const DUMMY_HASH = `scrypt$${N}$${R}$${P}$${Buffer.alloc(16).toString("base64")}$${Buffer.alloc(KEY_LEN).toString("base64")}`;
