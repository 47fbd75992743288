/**
 * Debian's tgt, the peer Portico is measured against: one tgtd on a free loopback port
 * with its own control port, one target whose LUN 1 is `file`. Needs root.
 */
import { spawn } from "node:child_process";
import { freePort, waitForPort } from "./ports";
import { sh } from "./portico";

export interface TgtTarget {
  /** libiscsi URL of LUN 1. */
  url: string;
  /** tgtd's process id (its CPU time for the benchmarks). */
  pid: number | undefined;
  /** Shuts tgtd down and waits for it to exit. */
  stop(): Promise<void>;
}

/** `more`: further backing files or devices, as LUNs 2, 3... (tgt's default rdwr backing store). */
export async function startTgt(file: string, iqn = "iqn.2001-04.com.example:portico-peer", more: string[] = []): Promise<TgtTarget> {
  const port = await freePort();
  const control = 2000 + Math.floor(Math.random() * 5000);
  const tgtd = spawn("tgtd", ["-f", "-C", String(control), "--iscsi", `portal=127.0.0.1:${port}`], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => tgtd.on("exit", () => resolve()));
  const adm = (...a: string[]) => {
    const r = sh("tgtadm", ["-C", String(control), ...a]);
    if (r.status !== 0) throw new Error(`tgtadm ${a.join(" ")}: ${r.stderr}`);
  };
  const stop = async () => {
    // tgtd ignores SIGTERM; tgtadm's system delete shuts it down, SIGKILL if it does not.
    sh("tgtadm", ["-C", String(control), "--op", "delete", "--mode", "system"]);
    const timer = new Promise<boolean>((r) => setTimeout(() => r(false), 3000));
    if (!(await Promise.race([exited.then(() => true), timer]))) {
      tgtd.kill("SIGKILL");
      await exited;
    }
  };
  try {
    await waitForPort(port);
    adm("--lld", "iscsi", "--op", "new", "--mode", "target", "--tid", "1", "-T", iqn);
    adm("--lld", "iscsi", "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", file);
    more.forEach((f, i) => adm("--lld", "iscsi", "--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", String(i + 2), "-b", f));
    adm("--lld", "iscsi", "--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL");
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `iscsi://127.0.0.1:${port}/${iqn}/1`, pid: tgtd.pid, stop };
}
