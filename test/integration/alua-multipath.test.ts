/**
 * dm-multipath in the Linux kernel initiator against ALUA (issue 13), in the QEMU guest of
 * ../shared/tools/linux-vm: one LU through two TPGs, tpg1's group Active/Optimized and tpg2's
 * Standby. `multipath -ll` must show two path groups with ALUA priorities (50 active, 1 standby),
 * IO must go through tpg1; then the states are swapped from the API (as the console does) and IO
 * must go through tpg2. The VM is built once into $PORTICO_LINUX_VM (default /tmp/portico-linux-vm-mpath: built with multipath-tools' libraries);
 * without QEMU or the shared tool the test is skipped.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AluaState } from "../../server/engine/scsi/alua";
import { IscsiClient } from "../support/iscsi-client";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, root, startPortico, type PorticoProcess } from "../support/portico";
import { apiClient } from "./monitor-support";

/** ../shared/tools/linux-vm beside the checkout (or beside a parent, from a worktree); PORTICO_LINUX_VM overrides. */
function findLinuxVm(): string {
  if (process.env.PORTICO_LINUX_VM) return process.env.PORTICO_LINUX_VM;
  for (let dir = path.dirname(root); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "shared", "tools", "linux-vm");
    if (existsSync(path.join(candidate, "run.sh"))) return candidate;
    if (path.dirname(dir) === dir) return path.resolve(root, "..", "shared", "tools", "linux-vm");
  }
}
const TOOLS = findLinuxVm();
const VM = process.env.PORTICO_LINUX_VM ?? "/tmp/portico-linux-vm-mpath";
const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.aluampath001";
const SO = { plugin: "ramdisk" as const, name: "mpath0" };
let dataDir: string;
let ports: [number, number];
let server: PorticoProcess;
let api: ReturnType<typeof apiClient>;

function saveconfig(): object {
  const group = (name: string, id: number, state: number) => ({
    alua_access_state: state, alua_access_status: 0, alua_access_type: 3, alua_support_active_nonoptimized: 1, alua_support_active_optimized: 1,
    alua_support_offline: 1, alua_support_standby: 1, alua_support_transitioning: 1, alua_support_unavailable: 1, alua_write_metadata: 0,
    implicit_trans_secs: 0, name, nonop_delay_msecs: 100, preferred: 0, tg_pt_gp_id: id, trans_delay_msecs: 0,
  });
  return {
    fabric_modules: [],
    storage_objects: [{ alua_tpgs: [group("default_tg_pt_gp", 0, AluaState.ACTIVE_OPTIMIZED), group("second", 2, AluaState.STANDBY)], attributes: { block_size: 512 }, name: SO.name, plugin: SO.plugin, size: 16 * 1024 * 1024 }],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [1, 2].map((tag) => ({
          tag,
          enable: true,
          attributes: { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0 },
          parameters: {},
          luns: [{ index: 0, alua_tg_pt_gp_name: tag === 1 ? "default_tg_pt_gp" : "second", storage_object: `/backstores/ramdisk/${SO.name}` }],
          portals: [{ ip_address: "127.0.0.1", port: ports[tag - 1] }],
          node_acls: [],
        })),
      },
    ],
  };
}

const haveVm = existsSync(path.join(TOOLS, "run.sh")) && spawnSync("which", ["qemu-system-x86_64"]).status === 0;

beforeAll(async () => {
  if (!haveVm) return;
  if (!existsSync(path.join(VM, "vmlinuz"))) {
    // multipath-tools keeps libmultipath & co. in the deb's /lib, which build.sh's library copy misses:
    // they ride along as extra "binaries" (into /sbin) and the guest script points LD_LIBRARY_PATH there.
    const extra = "lib/libmultipath.so.0 lib/libmpathutil.so.0 lib/libmpathcmd.so.0 lib/libmpathpersist.so.0";
    const b = spawnSync(path.join(TOOLS, "build.sh"), [VM], { encoding: "utf8", timeout: 900_000, env: { ...process.env, EXTRA_BINS: extra } });
    if (b.status !== 0) throw new Error(`linux-vm build failed: ${b.stderr}${b.stdout}`);
  }
  dataDir = makeDataDir("portico-alua-vm-");
  ports = [await freePort(), await freePort()];
  const file = path.join(dataDir, "saveconfig.json");
  writeFileSync(file, JSON.stringify(saveconfig(), null, 2));
  const r = portico(dataDir, ["restoreconfig", file]);
  expect(r.status, r.stderr).toBe(0);
  server = await startPortico({ dataDir });
  await waitForPort(ports[0]);
  await waitForPort(ports[1]);
  api = apiClient(server.url, dataDir);
}, 900_000);

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  if (dataDir) removeDir(dataDir);
});

/** Runs the guest; `onLine` sees each console line as it comes. Resolves with the whole output and exit status. */
function runGuest(onLine: (line: string) => void): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(TOOLS, "run.sh"), [VM, path.join(root, "test", "vm", "alua-multipath-guest.sh"), `g.iqn=${IQN}`, `g.p1=${ports[0]}`, `g.p2=${ports[1]}`], {
      env: { ...process.env, VM_TIMEOUT: "840" },
    });
    let out = "";
    let partial = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
      partial += d;
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const l of lines) onLine(l);
    });
    child.stderr.on("data", (d: Buffer) => (out += d));
    child.on("exit", (status) => resolve({ status, out }));
  });
}

describe.skipIf(!haveVm)("dm-multipath with ALUA in the Linux guest", () => {
  it("groups the paths by ALUA priority, uses the Active/Optimized one, and follows a swap made from the API", async () => {
    // The guest's console reaches us only when it ends (run.sh filters it), so the guest writes a
    // marker block when it is ready for the swap and our own initiator polls for it through tpg1.
    const watcher = await IscsiClient.connect(ports[0]);
    expect((await watcher.login({ initiatorName: "iqn.2024-01.org.portico.test:vm-watch", targetName: IQN })).statusClass).toBe(0);
    let done = false;
    let swappedAt = 0;
    const swap = (async () => {
      while (!done) {
        const r = await watcher.read10(8192, 1).catch(() => undefined);
        if (r?.status === 0 && r.data.subarray(0, 16).toString("latin1") === "PORTICO-SWAP-NOW") {
          await api.alua.setState.mutate({ ...SO, group: "default_tg_pt_gp", state: AluaState.STANDBY });
          await api.alua.setState.mutate({ ...SO, group: "second", state: AluaState.ACTIVE_OPTIMIZED });
          swappedAt = Date.now();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
    const { status, out } = await runGuest(() => undefined);
    done = true;
    await swap;
    watcher.close();
    // The whole console, for a failure's diagnosis (an assertion message shows only its start).
    writeFileSync(path.join(os.tmpdir(), "portico-alua-multipath-guest.log"), out);
    expect(swappedAt, out).toBeGreaterThan(0);
    // sda came through tpg1 (relative target port 1), sdb through tpg2 (2): the IO counts below are per TPG.
    expect(out).toMatch(/PATH sda .*Relative target port: 0x0*1\b/i);
    expect(out).toMatch(/PATH sdb .*Relative target port: 0x0*2\b/i);
    expect(status, out).toBe(0);
    // Two path groups: the active one with ALUA prio 50 (A/O), the other 1 (standby), hardware handler alua.
    expect(out).toMatch(/hwhandler='1 alua'/);
    const before = out.slice(0, out.indexOf("SWAP-NOW"));
    expect(before).toMatch(/policy='[^']+' prio=50 status=(active|enabled)\n[^\n]*sda .*active ready/);
    expect(before).toMatch(/policy='[^']+' prio=1 status=enabled\n[^\n]*sdb .*ghost/);
    const round = (name: string) => {
      const m = new RegExp(`IO-ROUND ${name} tpg1=(\\d+) tpg2=(\\d+)`).exec(out);
      expect(m, out).not.toBeNull();
      return { tpg1: Number(m![1]), tpg2: Number(m![2]) };
    };
    expect(out).toContain("IO-VERIFIED before");
    expect(out).toContain("IO-VERIFIED after");
    const b = round("before");
    const a = round("after");
    expect(b.tpg1).toBeGreaterThanOrEqual(2048); // 1 MiB in 512-byte sectors went through tpg1
    expect(b.tpg2).toBe(0);
    expect(a.tpg2).toBeGreaterThanOrEqual(2048); // after the swap, through tpg2
    expect(a.tpg1).toBe(0);
    const after = out.slice(out.indexOf("SWAPPED-AFTER"));
    // After the reload the tpg2 path is the Active/Optimized group (prio 50), tpg1's the standby one (ghost).
    expect(after).toMatch(/prio=50 status=(active|enabled)\n[^\n]*sdb .*active ready/);
    expect(after).toMatch(/prio=1 status=enabled\n[^\n]*sda .*ghost/);
  }, 900_000);
});
