/**
 * What live monitoring costs, on the real appliance process (run by hand):
 *
 *   npx tsx bench/monitor.ts [--seconds 8] [--rounds 3] [--only counters|browsers|cpu]
 *
 * 1. counters: one appliance, IO counting switched on and off at run time
 *    (monitor.setStatsEnabled, the same switch as PORTICO_STATS=off) between runs of
 *    `iscsi-perf -m 32 -b 8 -r` (4 KiB random reads, queue depth 32) on a ramdisk LUN,
 *    alternating on/off so drift in the shared machine hits both alike. One process
 *    for both sides: two processes differ by more than the counters cost (JIT, placement).
 *    Goal: counting costs ≤ 3 % of IOPS.
 * 2. browsers: one appliance; IOPS with the console idle (two signed-in Chromium
 *    browser contexts on about:blank) vs the same two on the Overview page streaming
 *    the live panel (Playwright, Debian's /usr/bin/chromium), alternated. The browsers
 *    run on the same two cores as the appliance here, so their rendering counts too.
 *    Goal: ≥ 95 % of the idle figure.
 *
 * `--nice-browsers` runs Chromium at nice 19 (it then gets only the CPU the appliance and
 * iscsi-perf leave): on a real deployment the browsers are not on the appliance.
 * Part 2 also prints the CPU the browsers used during the streaming runs (utime+stime of
 * Chromium's process tree from /proc, % of one core): steadier than the IOPS ratio on a
 * shared machine, and the figure the dashboard's rendering cost shows up in directly.
 * Needs the production build (`npx next build`) for part 2. Prints each run and the
 * medians; the machine is shared and noisy, so alternation and medians matter more
 * than any single figure.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "@playwright/test";
import { restoreDemo } from "../test/support/demo";
import { freePort, waitForPort } from "../test/support/ports";
import { makeDataDir, portico, removeDir, setupCodeHeaders, startPortico, type PorticoProcess } from "../test/support/portico";

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : dflt);
const seconds = opt("seconds", 8);
const rounds = opt("rounds", 3);
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
/** Run Chromium at nice 19: it then only gets CPU the appliance and iscsi-perf leave, which isolates the appliance's own cost of streaming. */
const niceBrowsers = args.includes("--nice-browsers");
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.benchmonitor";
const ADMIN = { username: "admin", password: "Bench-monitor-Passw0rd!" };

interface Appliance {
  server: PorticoProcess;
  iscsiPort: number;
  dataDir: string;
  /** The CLI's runtime-file token, read once. */
  token?: string;
}

async function appliance(env: Record<string, string>): Promise<Appliance> {
  const dataDir = makeDataDir("portico-bench-mon-");
  const iscsiPort = await freePort();
  restoreDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "rd", plugin: "ramdisk", size: 1024 ** 3 }], ports: [iscsiPort] });
  const server = await startPortico({ dataDir, env: { PORTICO_HTTP_HOST: "127.0.0.1", ...env } });
  await waitForPort(iscsiPort);
  server.child.on("exit", (code, signal) => console.error(`appliance exited: code ${code}, signal ${signal}`));
  return { server, iscsiPort, dataDir };
}

async function close(a: Appliance): Promise<void> {
  await a.server.stop().catch(() => a.server.kill());
  removeDir(a.dataDir);
}

/** One iscsi-perf run of `seconds`: its final "iops average N". */
function perf(a: Appliance): number {
  const r = spawnSync("iscsi-perf", ["-t", String(seconds), "-m", "32", "-b", "8", "-r", `iscsi://127.0.0.1:${a.iscsiPort}/${IQN}/0`], {
    encoding: "utf8",
    timeout: (seconds + 30) * 1000,
  });
  const out = `${r.stdout}${r.stderr}`;
  // It rewrites one status line with \r; the last "iops average" is the whole run's.
  const all = [...out.matchAll(/iops average (\d+)/g)];
  const v = all.length ? Number(all[all.length - 1][1]) : NaN;
  if (!Number.isFinite(v)) throw new Error(`iscsi-perf output not understood: ${out.slice(-300)}`);
  return v;
}

/**
 * CPU seconds (user + system) used so far by the descendants of `root` (not root itself),
 * except the trees under `exclude`, from /proc. With root = this process and the appliance
 * excluded, that is Chromium (Playwright's library mode starts it as our child).
 */
function treeCpuSeconds(root: number, exclude: (number | undefined)[]): number {
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      // Fields after the command name (which may contain spaces): state ppid … utime(12th) stime(13th).
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(d), Number(f[1]));
      cpu.set(Number(d), (Number(f[11]) + Number(f[12])) / 100); // USER_HZ is 100 on Linux
    } catch {
      // the process ended meanwhile
    }
  }
  let total = 0;
  for (const [pid, t] of cpu) {
    if (pid === root) continue;
    for (let p: number | undefined = pid, hops = 0; p && hops < 64; p = parent.get(p), hops++) {
      if (exclude.includes(p)) break;
      if (p === root) {
        total += t;
        break;
      }
    }
  }
  return total;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Switches counting through the API, authenticated like the CLI (runtime-file token). */
async function setStats(a: Appliance, enabled: boolean): Promise<void> {
  a.token ??= (JSON.parse(readFileSync(path.join(a.dataDir, "portico.runtime.json"), "utf8")) as { token: string }).token;
  const token = a.token;
  if (a.server.child.exitCode !== null) throw new Error(`the appliance exited (${a.server.child.exitCode}):\n${a.server.output().slice(-2000)}`);
  const r = await fetch(`${a.server.url}/api/trpc/monitor.setStatsEnabled`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-portico-token": token },
    body: JSON.stringify({ json: { enabled } }),
  });
  if (!r.ok) throw new Error(`setStatsEnabled: ${r.status} ${await r.text()}`);
}

async function counters(): Promise<void> {
  console.log(`\n== counters on vs off (iscsi-perf -m 32 -b 8 -r, ${seconds} s × ${rounds} rounds each) ==`);
  const a = await appliance({});
  try {
    perf(a); // warm-up (JIT, page cache), not counted
    const on: number[] = [];
    const off: number[] = [];
    for (let i = 0; i < rounds; i++) {
      // Alternate the order so drift in the shared machine hits both sides alike.
      for (const enabled of i % 2 === 0 ? [true, false] : [false, true]) {
        await setStats(a, enabled);
        (enabled ? on : off).push(perf(a));
      }
      console.log(`round ${i + 1}: on ${on[i]} IOPS, off ${off[i]} IOPS`);
    }
    await setStats(a, true);
    const mOn = median(on);
    const mOff = median(off);
    console.log(`median: counters on ${mOn} IOPS, off ${mOff} IOPS → cost ${(((mOff - mOn) / mOff) * 100).toFixed(1)} % (goal ≤ 3 %)`);
  } finally {
    await close(a);
  }
}

async function signedInPage(browser: Browser, server: PorticoProcess) {
  const url = server.url;
  const context = await browser.newContext();
  const page = await context.newPage();
  const status = await page.request.get(`${url}/api/trpc/onboarding.status`);
  if (status.ok()) {
    const onboarded = (JSON.parse(await status.text()) as { result: { data: { json: { onboarded: boolean } } } }).result.data.json.onboarded;
    const r = onboarded
      ? await page.request.post(`${url}/api/trpc/auth.login`, { data: { json: ADMIN } })
      : await page.request.post(`${url}/api/trpc/onboarding.complete`, {
          headers: setupCodeHeaders(server.dataDir),
          data: { json: { admin: { ...ADMIN, confirm: ADMIN.password }, appliance: { name: "bench", iqnPrefix: "iqn.2003-01.org.linux-iscsi.portico.x8664" }, storage: { kind: "none" } } },
        });
    if (!r.ok()) throw new Error(`sign-in failed: ${await r.text()}`);
  }
  return page;
}

async function showOverview(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.locator('[data-testid="live-status"][data-status="live"]').first().waitFor({ timeout: 30_000 });
}

async function browsers(): Promise<void> {
  console.log(`\n== console idle vs two browsers streaming the Overview (${seconds} s × ${rounds} rounds each) ==`);
  const a = await appliance({});
  let executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (niceBrowsers) {
    const wrapper = path.join(a.dataDir, "chromium-nice.sh");
    writeFileSync(wrapper, `#!/bin/sh\nexec nice -n 19 ${executablePath} "$@"\n`, { mode: 0o755 });
    executablePath = wrapper;
  }
  console.log(niceBrowsers ? "(browsers at nice 19)" : "(browsers at normal priority, sharing the cores)");
  const browser = await chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const pages = [await signedInPage(browser, a.server), await signedInPage(browser, a.server)];
    perf(a); // warm-up
    const idle: number[] = [];
    const streaming: number[] = [];
    const browserCpu: number[] = [];
    const browserCpuNow = () => treeCpuSeconds(process.pid, [a.server.child.pid]);
    for (let i = 0; i < rounds; i++) {
      for (const live of i % 2 === 0 ? [false, true] : [true, false]) {
        for (const p of pages) {
          if (live) await showOverview(p, a.server.url);
          else await p.goto("about:blank");
        }
        await new Promise((r) => setTimeout(r, 1000)); // page load settles
        const cpu0 = browserCpuNow();
        const t0 = performance.now();
        (live ? streaming : idle).push(perf(a));
        if (live) browserCpu.push(((browserCpuNow() - cpu0) / ((performance.now() - t0) / 1000)) * 100);
      }
      console.log(`round ${i + 1}: idle ${idle[i]} IOPS, 2 browsers streaming ${streaming[i]} IOPS (${(streaming[i] / idle[i] * 100).toFixed(1)} %; Chromium ${browserCpu[i].toFixed(1)} % of a core)`);
    }
    const mi = median(idle);
    const ms = median(streaming);
    console.log(`median: idle ${mi} IOPS, streaming ${ms} IOPS → ${((ms / mi) * 100).toFixed(1)} % of idle (goal ≥ 95 %)`);
    console.log(`median of per-round ratios: ${median(streaming.map((x, j) => (x / idle[j]) * 100)).toFixed(1)} %; Chromium while streaming: median ${median(browserCpu).toFixed(1)} % of a core`);
  } finally {
    await browser.close();
    await close(a);
  }
}

/**
 * 3. cpu: Chromium's CPU with the two pages on about:blank, the Overview with the appliance
 * idle, and the Overview while iscsi-perf runs (% of one core, `seconds` each, medians of
 * `rounds`): where the browsers' share of the machine goes, without the IOPS noise.
 */
async function browserCpu(): Promise<void> {
  console.log(`\n== Chromium CPU, two pages (${seconds} s × ${rounds} rounds each) ==`);
  const a = await appliance({});
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  try {
    const pages = [await signedInPage(browser, a.server), await signedInPage(browser, a.server)];
    const now = () => treeCpuSeconds(process.pid, [a.server.child.pid]);
    const result: Record<string, number[]> = { "about:blank": [], "Overview, no IO": [], "Overview, iscsi-perf running": [] };
    for (let i = 0; i < rounds; i++) {
      for (const [name, url, io] of [["about:blank", "about:blank", false], ["Overview, no IO", "/", false], ["Overview, iscsi-perf running", "/", true]] as const) {
        for (const p of pages) {
          if (url === "about:blank") await p.goto(url);
          else if (!p.url().startsWith(a.server.url)) await showOverview(p, a.server.url);
        }
        await new Promise((r) => setTimeout(r, 1000));
        const c0 = now();
        const t0 = performance.now();
        if (io) perf(a);
        else await new Promise((r) => setTimeout(r, seconds * 1000));
        result[name].push(((now() - c0) / ((performance.now() - t0) / 1000)) * 100);
      }
      console.log(`round ${i + 1}: ${Object.entries(result).map(([k, v]) => `${k} ${v[i].toFixed(1)} %`).join(", ")}`);
    }
    console.log(`median: ${Object.entries(result).map(([k, v]) => `${k} ${median(v).toFixed(1)} %`).join(", ")} of a core`);
  } finally {
    await browser.close();
    await close(a);
  }
}

async function main(): Promise<void> {
  if (!only || only === "counters") await counters();
  if (!only || only === "browsers") await browsers();
  if (only === "cpu") await browserCpu();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
