/**
 * Names the JS heap allocations of one 4 KiB READ (or WRITE) at queue depth 1 on the target:
 * the engine runs in this process under V8's sampling heap profiler (node:inspector,
 * HeapProfiler, with the objects scavenges collected kept in the profile), the client
 * (bench/initiator.ts) in a child process; bytes per command by the innermost engine frame
 * (server/engine/...) above each sample, and with --stacks by allocating frame and callers.
 *
 *   npx tsx bench/heap-sample.ts [--count 20000] [--write] [--interval 64] [--stacks]
 */
import { spawn } from "node:child_process";
import { Session as Inspector } from "node:inspector";
import { fileURLToPath } from "node:url";
import { createEngine } from "../server/engine";
import { BenchSession } from "./initiator";
import { freePort } from "../test/support/ports";

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(arg("--count")) || 20_000;
const write = args.includes("--write");
const interval = Number(arg("--interval")) || 64;
const SPAN = 64 * 1024 ** 2;

interface Frame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface Node { callFrame: Frame; selfSize: number; id: number; children: Node[] }
interface Sample { size: number; nodeId: number }

function post<T>(s: Inspector, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => s.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));
}

/** The client: logs in, writes the span, warms up, says WARM, runs `count` commands on "GO", says DONE. */
async function client(port: number, iqn: string) {
  const s = await BenchSession.login({ host: "127.0.0.1", port, targetName: iqn, initiatorName: "iqn.2026-12.org.portico:heap", isid: 5 });
  const big = Buffer.alloc(256 * 1024, 0x33);
  await s.command(0, false, 0, 4096, 512);
  for (let off = 0; off < SPAN; off += big.length) await s.command(0, true, off / 512, big.length, 512, big);
  const data = Buffer.alloc(4096, 0x5a);
  const loop = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const st = await s.command(0, write, Math.floor(Math.random() * (SPAN / 4096)) * 8, 4096, 512, data);
      if (st !== 0) throw new Error(`status ${st}`);
    }
  };
  await loop(10_000);
  process.stdout.write("WARM\n");
  await new Promise((r) => process.stdin.once("data", r));
  await loop(count);
  process.stdout.write("DONE\n");
  await s.logout();
  process.exit(0);
}

async function main() {
  if (arg("--client")) return client(Number(arg("--client")), arg("--iqn")!);
  const engine = createEngine();
  const iqn = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.heapsample";
  const so = await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: 1024 ** 3 });
  engine.createTarget(iqn);
  engine.createTpg(iqn, 1, { attributes: { generate_node_acls: 1, demo_mode_write_protect: 0, cache_dynamic_acls: 1 } });
  engine.createLun(iqn, 1, so.path, { index: 0 });
  const port = await freePort();
  await engine.createPortal(iqn, 1, "127.0.0.1", port);
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args, "--client", String(port), "--iqn", iqn], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  const until = (word: string) => new Promise<void>((resolve, reject) => {
    const check = () => (out.includes(word) ? resolve() : undefined);
    child.stdout!.on("data", (d: Buffer) => { out += d.toString(); check(); });
    child.once("exit", (code) => reject(new Error(`client exited ${code} before ${word}`)));
    check();
  });
  await until("WARM");
  const insp = new Inspector();
  insp.connect();
  await post(insp, "HeapProfiler.enable");
  await post(insp, "HeapProfiler.startSampling", { samplingInterval: interval, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  child.stdin!.write("GO\n");
  await until("DONE");
  const { profile } = await post<{ profile: { head: Node; samples: Sample[] } }>(insp, "HeapProfiler.stopSampling");
  insp.disconnect();
  await new Promise((r) => child.once("exit", r));
  await engine.shutdown();

  // Self size per node = sampled bytes (scaled); attribute to the innermost engine frame.
  const byNode = new Map<number, { self: number; stack: Frame[] }>();
  const walk = (n: Node, stack: Frame[]) => {
    const st = [...stack, n.callFrame];
    byNode.set(n.id, { self: n.selfSize, stack: st });
    for (const c of n.children) walk(c, st);
  };
  walk(profile.head, []);
  const short = (f: Frame) => `${f.functionName || "(anon)"} ${f.url.replace(/^.*\/(server|bench|node_modules)\//, "$1/").replace(/^node:/, "node:")}:${f.lineNumber + 1}`;
  const byEngine = new Map<string, number>();
  const byStack = new Map<string, number>();
  let total = 0;
  for (const { self, stack } of byNode.values()) {
    if (!self) continue;
    total += self;
    let key = "Node internals (no engine frame)";
    for (let i = stack.length - 1; i >= 0; i--) if (stack[i].url.includes("/server/engine/")) { key = short(stack[i]); break; }
    const leaf = short(stack[stack.length - 1]);
    byEngine.set(key, (byEngine.get(key) ?? 0) + self);
    if (args.includes("--stacks")) {
      const k = `${leaf}  <=  ${stack.slice(-8, -1).reverse().map(short).join(" < ")}`;
      byStack.set(k, (byStack.get(k) ?? 0) + self);
    }
  }
  console.log(`${count} ${write ? "writes" : "reads"}, sampling every ${interval} B: ${(total / count).toFixed(0)} B per command on the target`);
  for (const [k, v] of [...byEngine].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${(v / count).toFixed(0).padStart(6)} B  ${k}`);
  if (args.includes("--stacks")) {
    console.log("\nby allocating frame and its callers:");
    for (const [k, v] of [...byStack].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${(v / count).toFixed(0).padStart(6)} B  ${k}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
