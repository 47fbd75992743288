/**
 * SIGKILL in the middle of a burst of configuration changes: the database stays
 * consistent (SQLite WAL + one transaction per change), the appliance starts cleanly
 * from it, and what it serves is what the stored configuration says. Then the
 * saveconfig round trip through the CLI (file mode 0600) and a restore from a backup.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { createTRPCClient, httpLink } from "@trpc/client";
import superjson from "superjson";
import { afterAll, describe, expect, it } from "vitest";
import type { AppRouter } from "@/server/api/root";
import { readRuntime, runtimeUrl, TOKEN_HEADER } from "@/server/runtime";
import { databaseFile } from "@/server/db";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2024-01.org.portico.test:crash";
let dataDir: string | undefined;
let server: PorticoProcess | undefined;

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  if (dataDir) removeDir(dataDir);
});

function clientFor(dir: string) {
  const info = readRuntime(dir)!;
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${runtimeUrl(info)}/api/trpc`, transformer: superjson, headers: { [TOKEN_HEADER]: info.token } })],
  });
}

describe("SIGKILL during a burst of API changes", () => {
  it("leaves a consistent database that starts cleanly and serves what it stores", async () => {
    dataDir = makeDataDir("portico-crash-it-");
    const iscsiPort = await freePort();
    server = await startPortico({ dataDir });
    const api = clientFor(dataDir);
    await api.targets.create.mutate({ wwn: IQN });
    await api.targets.tpgs.setAttributes.mutate({ wwn: IQN, tag: 1, attributes: { generate_node_acls: 1 } });
    await api.targets.portals.create.mutate({ wwn: IQN, tag: 1, ip: "127.0.0.1", port: iscsiPort });

    // A burst: storage object + LUN + ACL churn, several in flight at once, killed mid-way.
    let done = 0;
    const burst = (async () => {
      for (let i = 0; i < 400; i++) {
        const name = `so${i}`;
        await Promise.allSettled([
          api.storage.create.mutate({ plugin: "ramdisk", name, size: 1 << 20 }).then(() => api.targets.luns.create.mutate({ wwn: IQN, tag: 1, storageObject: name, index: i })),
          api.targets.acls.create.mutate({ wwn: IQN, tag: 1, initiatorName: `iqn.1994-05.com.example:host${i}` }),
          i > 0 ? api.targets.luns.delete.mutate({ wwn: IQN, tag: 1, index: i - 1 }) : Promise.resolve(),
        ]);
        done++;
      }
    })();
    const started = Date.now();
    while (done < 15 && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 20));
    expect(done).toBeGreaterThanOrEqual(15);
    const child = server.child;
    const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once("exit", r));
    server.kill();
    await exited;
    await burst.catch(() => undefined);

    // The database file is consistent: integrity and foreign keys check out.
    const db = new Database(databaseFile(dataDir));
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    expect(db.pragma("foreign_key_check")).toEqual([]);
    const lunRows = db.prepare("select count(*) as n from luns").get() as { n: number };
    const soRows = db.prepare("select count(*) as n from storage_objects").get() as { n: number };
    db.close();
    expect(soRows.n).toBeGreaterThan(10);

    // It starts cleanly (the stale runtime file of the killed process is not a problem) and serves what is stored.
    server = await startPortico({ dataDir });
    await waitForPort(iscsiPort);
    const api2 = clientFor(dataDir);
    const status = await api2.system.status.query();
    expect(status.warnings).toEqual([]);
    expect(status.counts.luns).toBe(lunRows.n);
    expect(status.counts.storageObjects).toBe(soRows.n);
    const ls = sh("iscsi-ls", ["-s", `iscsi://127.0.0.1:${iscsiPort}`]);
    expect(ls.status, ls.stderr).toBe(0);
    expect([...ls.stdout.matchAll(/Lun:(\d+)/g)].length).toBe(lunRows.n);
    // And it still takes changes.
    await api2.storage.create.mutate({ plugin: "ramdisk", name: "after", size: 1 << 20 });
  });

  it("saveconfig writes a complete 0600 file that restores equivalently; a backup restores through the CLI", async () => {
    const dir = dataDir!;
    const file = path.join(dir, "saved.json");
    const r = portico(dir, ["saveconfig", file]);
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = readFileSync(file, "utf8");
    expect(JSON.parse(saved).targets[0].wwn).toBe(IQN);

    const list = portico(dir, ["backups"]);
    expect(list.status, list.stderr).toBe(0);
    const names = [...list.stdout.matchAll(/^(saveconfig-\S+-json\.gz)/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(0);
    const api = clientFor(dir);
    await api.storage.create.mutate({ plugin: "ramdisk", name: "after-backup", size: 1 << 20 });
    const newest = (await api.config.backups.list.query())[1].name; // [0] holds after-backup
    const restored = portico(dir, ["restoreconfig", "--backup", newest]);
    expect(restored.status, restored.stderr + restored.stdout).toBe(0);
    const now = await api.config.export.query({ secrets: true });
    expect(now).toBe(await api.config.backups.download.query({ name: newest, secrets: true }));
    expect(now).not.toContain("after-backup");

    // Round trip: the saved file re-imports (clear) to the same export.
    writeFileSync(path.join(dir, "again.json"), saved);
    const again = portico(dir, ["restoreconfig", path.join(dir, "again.json"), "--clear"]);
    expect(again.status, again.stderr).toBe(0);
    expect(await api.config.export.query({ secrets: true })).toBe(saved);
  });
});
