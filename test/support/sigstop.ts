/**
 * SIGSTOP that has taken effect: a test that means "this process stops answering now" must not
 * send its next request before every thread of the process is stopped.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";

/** The run states of a process's threads ('R', 'S', 'T' stopped, ...), from /proc/PID/task/TID/stat. */
function threadStates(pid: number): string[] {
  const states: string[] = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      states.push(stat.slice(stat.lastIndexOf(")") + 2)[0]); // after "pid (comm) "; comm may hold ')'
    } catch {
      // the thread ended meanwhile
    }
  }
  return states;
}

/**
 * SIGSTOP, and return only once every thread of the process is stopped. kill() returns as soon
 * as the signal is queued: the kernel wakes one thread of a multi-threaded process, and only
 * when that thread runs does it stop the others (group stop, kernel/signal.c do_signal_stop).
 * Until then the OSD's messenger and op threads keep serving. On the loaded 2-vCPU machine a
 * READ sent right after the kill came back GOOD after 51 ms (rbd.test.ts, OSD that stops
 * answering). With 3 busy loops on the 2 vCPUs: an in-process 4 KiB rbd read right after
 * kill(SIGSTOP) returned the image's bytes in 0-4 ms in 6 of 15 tries (0 of 15 after this
 * wait), and a node process's threads took up to 230 ms to be all stopped. The same holds for an
 * appliance (cluster-failover.test.ts, SIGSTOP of the owner): a write sent before its loop is
 * stopped could still be taken and land on the image.
 */
export function stopProcess(child: ChildProcess): void {
  const pid = child.pid!;
  child.kill("SIGSTOP");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const states = threadStates(pid);
    if (states.length > 0 && states.every((s) => s === "T")) return;
    if (Date.now() > deadline) throw new Error(`pid ${pid} not stopped 10 s after SIGSTOP: thread states ${states.join("")}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
}
