/**
 * What the benchmarks read of a target process and its backing file from /proc and util-linux:
 * shared by bench/run.ts and bench/ab-trees.ts so both print the same figures the same way.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * Context switches (voluntary + involuntary) of a process's threads so far, from /proc/<pid>/task/<tid>/status.
 * Per IO it counts the thread hand-offs and sleeps a command costs (io-wq workers and tgt's worker threads
 * included), a structural figure a loaded machine hardly moves. Threads that exited are not counted.
 */
export function contextSwitches(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  let n = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const st = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
        n += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
      } catch {
        // the thread exited meanwhile
      }
    }
  } catch {
    return undefined;
  }
  return n;
}

/** Nanoseconds the process's main thread has spent runnable but waiting for a CPU (/proc/<pid>/task/<pid>/schedstat). */
export function runQueueNs(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** The share of a file or device (held open by its target) in the page cache, from fincore; undefined when it cannot tell. */
export function cachedShare(file: string): number | undefined {
  const r = spawnSync("fincore", ["-n", "-b", "-o", "RES,SIZE", file], { encoding: "utf8" });
  const [res, size] = (r.stdout ?? "").trim().split(/\s+/).map(Number);
  return r.status === 0 && size > 0 ? res / size : undefined;
}
