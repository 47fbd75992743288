/**
 * Storage never touches the system's own files (issue 15 item 2, issue 10 item 3), through
 * every door, against the real `portico` CLI and the real appliance process:
 *   - `portico restoreconfig` (stopped, then running) of a saveconfig.json with fileio objects on
 *     /etc/shadow, the data directory's portico.db, a symlink to it and /proc/self/environ
 *     serves none of them and names each;
 *   - the API and the shell refuse them too, and a second fileio on a file already in use
 *     (naming the other object);
 *   - a failed create or import leaves no file behind;
 *   - over-commit needs confirmation (`--overcommit`, `overcommit: true`, `overcommit=true`);
 *   - deleting a fileio object keeps its file unless asked (`deleteFile`, `delete_file=true`);
 *   - a path defaults from the name, in the storage directory next to the data directory;
 *   - the storage roots setting.
 */
import fs from "node:fs";
import path from "node:path";
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import Database from "better-sqlite3";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppRouter } from "@/server/api/root";
import { readRuntime, runtimeUrl, TOKEN_HEADER } from "@/server/runtime";
import { makeDataDir, portico, removeDir, startPortico, type PorticoProcess } from "../support/portico";

let dataDir: string;
let files: string;
let server: PorticoProcess | undefined;
const SHADOW = fs.existsSync("/etc/shadow") ? "/etc/shadow" : "/etc/passwd";

function writeConfig(name: string, storageObjects: Record<string, unknown>[]): string {
  const file = path.join(files, name);
  fs.writeFileSync(file, JSON.stringify({ storage_objects: storageObjects, targets: [], fabric_modules: [] }));
  return file;
}
const fileio = (name: string, dev: string, size?: number) => ({ plugin: "fileio", name, dev, write_back: false, ...(size ? { size } : {}), attributes: {} });

function attackConfig(): string {
  fs.rmSync(path.join(files, "db-link.img"), { force: true });
  fs.symlinkSync(path.join(dataDir, "portico.db"), path.join(files, "db-link.img"));
  return writeConfig("attack.json", [
    fileio("fresh", path.join(files, "fresh.img"), 1 << 20), // fine on its own: must not survive the refusal
    fileio("shadow", SHADOW),
    fileio("db", path.join(dataDir, "portico.db")),
    fileio("dblink", path.join(files, "db-link.img")),
    fileio("environ", "/proc/self/environ"),
  ]);
}

function expectAttackRefused(out: string): void {
  expect(out).toMatch(/configuration refused/);
  expect(out.match(/refused: /g)).toHaveLength(4);
  expect(out).toMatch(/fileio\/shadow.*under \/etc, a system directory/);
  expect(out).toMatch(/fileio\/db.*inside the appliance's data directory/);
  expect(out).toMatch(/fileio\/dblink.*inside the appliance's data directory.*resolves to .*portico\.db/);
  expect(out).toMatch(/fileio\/environ.*under \/proc, a system directory/);
  expect(out).not.toMatch(/fileio\/fresh/);
  // All or nothing, and the good object's new file went with it.
  expect(fs.existsSync(path.join(files, "fresh.img"))).toBe(false);
}

function storageObjects(): string {
  return portico(dataDir, ["ls", "/backstores", "2"]).stdout;
}

beforeAll(() => {
  dataDir = makeDataDir("portico-fileio-it-");
  files = makeDataDir("portico-fileio-files-");
});

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
  removeDir(`${dataDir}-storage`);
  removeDir(files);
});

describe("stopped appliance: portico restoreconfig and the shell", () => {
  it("restoreconfig refuses fileio on /etc/shadow, portico.db, a symlink to it and /proc/self/environ, naming each", () => {
    // Make the database exist first (the shell opens the stopped data directory).
    expect(portico(dataDir, ["ls", "/"]).status).toBe(0);
    const r = portico(dataDir, ["restoreconfig", attackConfig()]);
    expect(r.status).toBe(1);
    expectAttackRefused(r.stderr);
    expect(storageObjects()).toContain("[Storage Objects: 0]");
  });

  it("the shell refuses the same paths, and a second object on a file in use, naming the other", () => {
    const shadow = portico(dataDir, ["/backstores/fileio", "create", "s", SHADOW]);
    expect(shadow.status).toBe(1);
    expect(shadow.stderr).toMatch(/fileio\/s refused: .*under \/etc, a system directory/);
    const db = portico(dataDir, ["/backstores/fileio", "create", "d", path.join(dataDir, "portico.db")]);
    expect(db.status).toBe(1);
    expect(db.stderr).toMatch(/data directory/);
    const disk = path.join(files, "disk1.img");
    expect(portico(dataDir, ["/backstores/fileio", "create", "disk1", disk, "1M"]).status).toBe(0);
    fs.symlinkSync(disk, path.join(files, "disk1-alias.img"));
    const second = portico(dataDir, ["/backstores/fileio", "create", "disk2", path.join(files, "disk1-alias.img")]);
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/already backs storage object fileio\/disk1 .*one file, one storage object/);
    expect(storageObjects()).not.toContain("disk2");
    // A restore of a file that backs disk1 already is refused too.
    const dup = portico(dataDir, ["restoreconfig", writeConfig("dup.json", [fileio("disk3", disk)])]);
    expect(dup.status).toBe(1);
    expect(dup.stderr).toMatch(/fileio\/disk3.*already backs storage object fileio\/disk1/);
  });

  it("restoreconfig needs --overcommit for a sparse file larger than the free space", () => {
    const st = fs.statfsSync(files);
    const huge = Math.ceil((st.bavail * st.bsize + 2 ** 40) / 4096) * 4096;
    const cfg = writeConfig("huge.json", [fileio("huge", path.join(files, "huge.img"), huge)]);
    const refused = portico(dataDir, ["restoreconfig", cfg]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/fileio\/huge.*free on the file system .*confirm over-commit/);
    expect(fs.existsSync(path.join(files, "huge.img"))).toBe(false);
    const ok = portico(dataDir, ["restoreconfig", cfg, "--overcommit"]);
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(fs.statSync(path.join(files, "huge.img")).size).toBe(huge);
    // targetcli's delete keeps the file; delete_file=true (Portico's extension) removes it.
    expect(portico(dataDir, ["/backstores/fileio", "delete", "huge"]).status).toBe(0);
    expect(fs.existsSync(path.join(files, "huge.img"))).toBe(true);
    fs.rmSync(path.join(files, "huge.img"));
  });
});

describe("running appliance: API, shell and restoreconfig", () => {
  let api: ReturnType<typeof createTRPCClient<AppRouter>>;
  beforeAll(async () => {
    server = await startPortico({ dataDir });
    const info = readRuntime(dataDir)!;
    api = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${runtimeUrl(info)}/api/trpc`, transformer: superjson, headers: { [TOKEN_HEADER]: info.token } })] });
  }, 120_000);

  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    return err as TRPCClientError<AppRouter>;
  };

  it("the restored disk1 serves; restoreconfig into the running appliance refuses the attack file the same way", () => {
    expect(server!.output()).not.toMatch(/restore warning/);
    const r = portico(dataDir, ["restoreconfig", attackConfig()]);
    expect(r.status).toBe(1);
    expectAttackRefused(r.stderr);
    const ls = storageObjects();
    expect(ls).toContain("o- disk1 ");
    for (const name of ["shadow", "db ", "dblink", "environ", "fresh"]) expect(ls).not.toContain(`o- ${name}`);
  });

  it("the API refuses system files, the appliance's files and a file in use, with the field and the other object's name", async () => {
    for (const dev of [SHADOW, "/proc/self/environ", path.join(dataDir, "portico.db"), path.join(dataDir, "history.db"), path.join(files, "db-link.img"), `${files}/../../etc/passwd`]) {
      const err = await refusal(api.storage.create.mutate({ plugin: "fileio", name: "x", dev, size: 1 << 20 }));
      expect(err.message, dev).toMatch(/^fileio\/x refused: .*\(rule: /);
      expect(err.data?.field).toBe("dev");
    }
    const dup = await refusal(api.storage.create.mutate({ plugin: "fileio", name: "disk9", dev: path.join(files, "disk1.img") }));
    expect(dup.message).toMatch(/already backs storage object fileio\/disk1/);
    expect(dup.data?.code).toBe("CONFLICT");
    const tree = await api.config.tree.query();
    expect(tree.storageObjects.map((so) => so.name).sort()).toEqual(["disk1"]);
  });

  it("over-commit through the API: refused with engineCode overcommit, accepted with overcommit: true", async () => {
    const st = fs.statfsSync(files);
    const huge = Math.ceil((st.bavail * st.bsize + 2 ** 40) / 4096) * 4096;
    const dev = path.join(files, "thin.img");
    const err = await refusal(api.storage.create.mutate({ plugin: "fileio", name: "thin", dev, size: huge }));
    expect((err.data as { engineCode?: string }).engineCode).toBe("overcommit");
    expect(err.data?.field).toBe("size");
    expect(fs.existsSync(dev)).toBe(false);
    await api.storage.create.mutate({ plugin: "fileio", name: "thin", dev, size: huge, overcommit: true });
    expect(fs.statSync(dev).size).toBe(huge);
    // deleteFile: the file goes with the object.
    expect(await api.storage.delete.mutate({ plugin: "fileio", name: "thin", deleteFile: true })).toEqual({ fileDeleted: dev });
    expect(fs.existsSync(dev)).toBe(false);
  });

  it("a path defaults from the name, in the storage directory next to the data directory", async () => {
    const defaults = await api.storage.fileDefaults.query();
    expect(defaults.dir).toBe(`${dataDir}-storage`);
    const so = await api.storage.create.mutate({ plugin: "fileio", name: "vm1", size: 1 << 20 });
    expect(so.dev).toBe(path.join(`${dataDir}-storage`, "vm1.img"));
    expect(fs.statSync(so.dev!).size).toBe(1 << 20);
    // Deleting without deleteFile keeps the file; a default path never adopts an existing file.
    await api.storage.delete.mutate({ plugin: "fileio", name: "vm1" });
    expect(fs.existsSync(so.dev!)).toBe(true);
    const again = await refusal(api.storage.create.mutate({ plugin: "fileio", name: "vm1", size: 1 << 20 }));
    expect(again.message).toMatch(/already exists: give its path explicitly/);
  });

  it("storage roots restrict fileio, through the API and the shell", async () => {
    const root = path.join(files, "root");
    fs.mkdirSync(root);
    const refused = await refusal(api.config.setSettings.mutate({ storageRoots: [root] }));
    expect(refused.message).toMatch(/outside the storage roots: fileio\/disk1/);
    expect((await api.config.settings.query()).storageRoots).toEqual([]);
    await api.config.setSettings.mutate({ storageRoots: [root, files] });
    expect((await api.config.settings.query()).storageRoots).toEqual([root, files]);
    const outside = portico(dataDir, ["/backstores/fileio", "create", "out", path.join(`${dataDir}-storage`, "out.img"), "1M"]);
    expect(outside.status).toBe(1);
    expect(outside.stderr).toMatch(/outside the storage roots/);
    expect(fs.existsSync(path.join(`${dataDir}-storage`, "out.img"))).toBe(false);
    const inside = portico(dataDir, ["/backstores/fileio", "create", "in", path.join(root, "in.img"), "1M"]);
    expect(inside.stderr).toBe("");
    const del = portico(dataDir, ["/backstores/fileio", "delete", "in", "delete_file=true"]);
    expect(del.stdout).toContain(`Deleted file ${path.join(root, "in.img")}.`);
    expect(fs.existsSync(path.join(root, "in.img"))).toBe(false);
    await api.config.setSettings.mutate({ storageRoots: [] });
  });

  it("after a restart, the refused objects are still absent, disk1 still serves, and a stored object on a refused path is not opened", async () => {
    await server!.stop();
    // A configuration stored before these rules existed: a fileio row on /etc/shadow.
    const db = new Database(path.join(dataDir, "portico.db"));
    db.prepare("insert into storage_objects (plugin, name, dev, size, wwn, write_back, attributes) values ('fileio', 'legacy', ?, 4096, '3f6c2a1e-7b4d-4c8a-9e51-0d2b7a6c9f12', 0, '{}')").run(SHADOW);
    db.close();
    server = await startPortico({ dataDir });
    expect(server.output()).toMatch(/restore warning: \/backstores\/fileio\/legacy: fileio\/legacy refused: .*under \/etc, a system directory/);
    const ls = storageObjects();
    expect(ls).toContain("o- disk1 ");
    expect(ls).toMatch(/o- legacy .*deactivated/);
    expect(ls).not.toMatch(/o- (shadow|db|dblink|environ|fresh|thin) /);
  }, 120_000);
});
