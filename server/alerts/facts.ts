/**
 * Gathers what the alert rules look at, from the live engine, the stored configuration,
 * the filesystem and the monitor (sampler and event log). I/O at the edge; the rules
 * themselves are pure (rules.ts).
 */
import fs from "node:fs";
import path from "node:path";
import { configTree } from "../api/tree";
import type { ConfigService } from "../config/service";
import type { Monitor } from "../history/monitor";
import type { AlertFacts, LatencyFact, LoginFailureFact, StorageFact } from "./rules";
import type { AlertSettings } from "./schemas";

/** Why a backing file or device cannot serve IO any more, or undefined if it can. */
export function backingProblem(plugin: string, dev: string | undefined, openedIno?: number): string | undefined {
  if (!dev || (plugin !== "fileio" && plugin !== "block")) return undefined;
  let st: fs.Stats;
  try {
    st = fs.statSync(dev);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? `${plugin === "fileio" ? "its file" : "its device"} was deleted or is no longer there` : `cannot reach ${dev}: ${code ?? (err as Error).message}`;
  }
  // The engine keeps the old file open: data written now goes to a deleted inode that vanishes at restart.
  if (openedIno !== undefined && st.ino !== openedIno) return "its file was replaced by another file of the same name";
  if (plugin === "block" && !st.isBlockDevice()) return `${dev} is no longer a block device`;
  return undefined;
}

export class FactGatherer {
  /** Inode of each fileio file when first seen, to tell a replaced file. */
  private readonly inodes = new Map<string, number>();

  constructor(
    private readonly service: ConfigService,
    private readonly monitor: () => Monitor | undefined,
  ) {}

  gather(settings: AlertSettings, now = Date.now()): AlertFacts {
    const tree = configTree(this.service);
    const storage: StorageFact[] = [];
    const seen = new Set<string>();
    for (const so of tree.storageObjects) {
      const key = `${so.plugin}/${so.name}`;
      seen.add(key);
      const fact: StorageFact = { key, plugin: so.plugin, name: so.name, dev: so.dev ?? undefined, sizeBytes: so.size };
      if (!so.live) {
        fact.offline = so.error ? `it failed to start: ${so.error}` : "it is configured but not running";
      } else if (so.dev) {
        const known = this.inodes.get(key);
        fact.offline = backingProblem(so.plugin, so.dev, known);
        if (!fact.offline && so.plugin === "fileio") {
          try {
            const st = fs.statSync(so.dev);
            if (known === undefined) this.inodes.set(key, st.ino);
            fact.allocatedBytes = st.blocks * 512;
            const f = fs.statfsSync(path.dirname(so.dev));
            fact.fs = { freeBytes: f.bavail * f.bsize, totalBytes: f.blocks * f.bsize };
          } catch {
            // raced with a delete: the next evaluation sees it
          }
        }
      }
      storage.push(fact);
    }
    for (const k of [...this.inodes.keys()]) if (!seen.has(k)) this.inodes.delete(k);

    const portals = tree.targets.flatMap((t) =>
      t.tpgs.filter((g) => g.enabled).flatMap((g) => g.portals.map((p) => ({ wwn: t.wwn, tag: g.tag, key: p.key, listening: p.listening, reason: p.error }))),
    );

    const m = this.monitor();
    const loginFailures: LoginFailureFact[] = [];
    const latency: LatencyFact[] = [];
    if (m && !m.closed) {
      const windowMs = settings.rules.login_failures.windowMinutes * 60_000;
      const byPair = new Map<string, LoginFailureFact>();
      // Newest first: the first row of a pair carries its latest reason and address.
      for (const e of m.events({ types: ["login_failed"], from: now - windowMs, limit: 1000 })) {
        const k = `${e.initiatorName ?? ""}\u0000${e.targetName ?? ""}`;
        const f = byPair.get(k) ?? { initiator: e.initiatorName ?? "", target: e.targetName ?? "", count: 0, lastReason: e.reason ?? e.message ?? undefined, lastRemote: e.remote ?? undefined };
        f.count += e.count; // a row aggregates a minute's refusals of one initiator, reason and address
        byPair.set(k, f);
      }
      loginFailures.push(...byPair.values());
      for (const lun of m.luns()) {
        const h = m.sampler.history("lun", lun.key, 60);
        if (!h) continue;
        let sum = 0;
        let n = 0;
        for (let i = 0; i < h.t.length; i++) {
          const c = h.columns;
          if (c.readIops[i] + c.writeIops[i] <= 0) continue;
          sum += Math.max(c.readP99Us[i], c.writeP99Us[i]);
          n++;
        }
        latency.push({ key: lun.key, storageObject: lun.storageObject, p99Us: n ? sum / n : 0, secondsWithIo: n });
      }
    }
    return { storage, portals, loginFailures, latency };
  }
}
