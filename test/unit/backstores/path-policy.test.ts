/**
 * The fileio path policy (server/engine/backstores/path-policy.ts) and the engine's use of it:
 * system directories, the appliance's own files, symlinks and `..`, storage roots, one file per
 * storage object, over-commit, and no file left behind by a failed create.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openBackstore } from "@/server/engine/backstores";
import { defaultAppDir, defaultStorageDir, refusal, resolveFileioPath, systemDirOf } from "@/server/engine/backstores/path-policy";
import { Engine } from "@/server/engine/core/engine";
import { EngineError } from "@/server/engine/core/errors";
import { offlineDevice } from "@/server/config/probe";

describe("refusal (pure)", () => {
  const policy = { dataDir: "/var/lib/portico/data", appDir: "/opt/portico", storageDir: "/opt/portico/storage" };

  it("refuses every system directory and names the rule", () => {
    for (const p of ["/etc/shadow", "/proc/self/environ", "/sys/kernel/notes", "/dev/sda", "/boot/vmlinuz", "/usr/bin/env", "/bin/sh", "/sbin/init", "/lib/x", "/lib64/ld.so", "/libx32/y", "/etc"]) {
      const r = refusal(p, {});
      expect(r, p).toMatch(/system directory|under \/dev/);
      expect(r).toContain(p);
    }
    expect(refusal("/dev/sda", {})).toMatch(/block backstore/);
    expect(systemDirOf("/lib64/ld.so")).toBe("/lib64");
  });

  it("allows look-alike names outside those directories", () => {
    for (const p of ["/etcetera/x.img", "/srv/etc/x.img", "/devices.img", "/srv/proc.img", "/var/lib/x.img", "/home/usr/x.img", "/x.img"]) expect(refusal(p, policy), p).toBeUndefined();
  });

  it("refuses the data directory and the application's directory except its storage directory", () => {
    expect(refusal("/var/lib/portico/data/portico.db", policy)).toMatch(/inside the appliance's data directory \/var\/lib\/portico\/data .*never the appliance's own files/);
    expect(refusal("/var/lib/portico/data", policy)).toMatch(/data directory/);
    expect(refusal("/var/lib/portico/data/backup/x.img", policy)).toMatch(/data directory/);
    expect(refusal("/var/lib/portico/data-other/x.img", policy)).toBeUndefined();
    expect(refusal("/opt/portico/server/main.ts", policy)).toMatch(/inside the application's directory \/opt\/portico .*own code/);
    expect(refusal("/opt/portico/package.json", policy)).toMatch(/application's directory/);
    expect(refusal("/opt/portico/storage/vm1.img", policy)).toBeUndefined();
    expect(refusal("/opt/portico/storage2/vm1.img", policy)).toMatch(/application's directory/);
  });

  it("with storage roots, only inside them", () => {
    const roots = { ...policy, storageRoots: ["/srv/a", "/mnt/b"] };
    expect(refusal("/srv/a/x.img", roots)).toBeUndefined();
    expect(refusal("/mnt/b/c/x.img", roots)).toBeUndefined();
    expect(refusal("/srv/ab/x.img", roots)).toMatch(/outside the storage roots \/srv\/a, \/mnt\/b/);
    expect(refusal("/etc/x", roots)).toMatch(/system directory/);
  });

  it("the default storage directory is next to the data directory, not in it", () => {
    expect(defaultStorageDir("/var/lib/portico/data")).toBe("/var/lib/portico/data-storage");
    expect(refusal(defaultStorageDir("/var/lib/portico/data"), { dataDir: "/var/lib/portico/data" })).toBeUndefined();
    expect(defaultAppDir && fs.existsSync(path.join(defaultAppDir, "package.json"))).toBe(true);
  });
});

describe("resolveFileioPath and the engine (real files)", () => {
  let root: string;
  let dataDir: string;
  let files: string;
  let engine: Engine;
  beforeEach(() => {
    root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "portico-policy-")));
    dataDir = path.join(root, "data");
    files = path.join(root, "files");
    fs.mkdirSync(dataDir);
    fs.mkdirSync(files);
    fs.writeFileSync(path.join(dataDir, "portico.db"), "SQLite format 3\0");
    engine = new Engine({ openBackstore, createDevice: offlineDevice, fileio: { dataDir, storageDir: path.join(root, "storage") } });
  });
  afterEach(async () => {
    await engine.shutdown();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const refusedWith = async (dev: string, size: number | undefined, re: RegExp, code = "invalid") => {
    const err = await engine.createStorageObject({ plugin: "fileio", name: "f", dev, size }).catch((e: unknown) => e);
    expect(err, dev).toBeInstanceOf(EngineError);
    expect((err as EngineError).message).toMatch(re);
    expect((err as EngineError).code).toBe(code);
    expect((err as EngineError).field).toBe("dev");
    expect(engine.storageObjects.size).toBe(0);
  };

  it("refuses the system's and the appliance's own files, directly, through symlinks and `..`", async () => {
    const shadow = fs.existsSync("/etc/shadow") ? "/etc/shadow" : "/etc/passwd";
    await refusedWith(shadow, undefined, /fileio\/f refused: .* is under \/etc, a system directory/);
    await refusedWith("/proc/self/environ", undefined, /under \/proc, a system directory/);
    await refusedWith(path.join(dataDir, "portico.db"), undefined, /inside the appliance's data directory/);
    await refusedWith(path.join(dataDir, "new.img"), 1 << 20, /inside the appliance's data directory/);
    fs.symlinkSync(path.join(dataDir, "portico.db"), path.join(files, "link.img"));
    await refusedWith(path.join(files, "link.img"), undefined, /resolves to .*data\/portico\.db/);
    fs.symlinkSync(shadow, path.join(files, "shadow.img"));
    await refusedWith(path.join(files, "shadow.img"), undefined, /system directory .*resolves to \/etc\//);
    await refusedWith(`${files}/../data/portico.db`, undefined, /data directory/);
    await refusedWith(`${files}/../../../../../../etc/passwd`, undefined, /under \/etc/);
    // A new file whose parent resolves into a refused place.
    fs.symlinkSync("/etc", path.join(files, "etc-link"));
    await refusedWith(path.join(files, "etc-link", "new.img"), 1 << 20, /under \/etc.*resolves to \/etc\/new\.img/);
    fs.symlinkSync(dataDir, path.join(files, "data-link"));
    await refusedWith(path.join(files, "data-link", "new.img"), 1 << 20, /data directory/);
    expect(fs.existsSync(path.join(dataDir, "new.img"))).toBe(false);
    // The application's code.
    await refusedWith(path.join(defaultAppDir!, "package.json"), undefined, /application's directory/);
  });

  it("refuses what is not a regular file, and a dangling symlink (O_CREAT would follow it)", async () => {
    await refusedWith(files, 1 << 20, /is a directory/);
    fs.symlinkSync(path.join(root, "elsewhere", "x.img"), path.join(files, "dangling.img"));
    await refusedWith(path.join(files, "dangling.img"), 1 << 20, /symbolic link to a missing file/);
    expect(fs.existsSync(path.join(root, "elsewhere"))).toBe(false);
    const fifo = path.join(files, "fifo");
    if (require("node:child_process").spawnSync("mkfifo", [fifo]).status === 0) await refusedWith(fifo, 1 << 20, /not a regular file/);
  });

  it("one file, one storage object: the same file by path, symlink or hard link is refused, naming the other", async () => {
    const file = path.join(files, "a.img");
    await engine.createStorageObject({ plugin: "fileio", name: "a", dev: file, size: 1 << 20 });
    const again = (dev: string) => engine.createStorageObject({ plugin: "fileio", name: "b", dev }).catch((e: EngineError) => e);
    fs.symlinkSync(file, path.join(files, "alias.img"));
    fs.linkSync(file, path.join(files, "hard.img"));
    for (const dev of [file, path.join(files, "alias.img"), path.join(files, "hard.img"), `${files}/./../files/a.img`]) {
      const err = (await again(dev)) as EngineError;
      expect(err, dev).toBeInstanceOf(EngineError);
      expect(err.message).toMatch(/already backs storage object fileio\/a .*one file, one storage object/);
      expect(err.code).toBe("in_use");
      expect(err.field).toBe("dev");
    }
    expect([...engine.storageObjects.keys()]).toEqual(["fileio/a"]);
    // Once the first is deleted, the file may back another one.
    await engine.deleteStorageObject("fileio", "a");
    expect(fs.existsSync(file)).toBe(true);
    await engine.createStorageObject({ plugin: "fileio", name: "b", dev: path.join(files, "alias.img") });
    expect(engine.storageObject("fileio", "b").realPath).toBe(file);
  });

  it("a create that fails leaves no file behind", async () => {
    const file = path.join(files, "half.img");
    // Too small for one 4096-byte block: refused after the file was opened.
    const err = await engine.createStorageObject({ plugin: "fileio", name: "h", dev: file, size: 1000, blockSize: 4096 }).catch((e: EngineError) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(fs.existsSync(file)).toBe(false);
    // The device cannot be made: the engine removes the file it created.
    const failing = new Engine({ openBackstore, createDevice: () => { throw new Error("no device"); }, fileio: { dataDir } });
    await expect(failing.createStorageObject({ plugin: "fileio", name: "h", dev: file, size: 1 << 20 })).rejects.toThrow(/no device/);
    expect(fs.existsSync(file)).toBe(false);
    // An existing file is never removed by a failure.
    fs.writeFileSync(file, Buffer.alloc(4096));
    await expect(failing.createStorageObject({ plugin: "fileio", name: "h", dev: file })).rejects.toThrow(/no device/);
    expect(fs.statSync(file).size).toBe(4096);
  });

  it("a sparse size beyond the free space needs over-commit; deleteFile removes the file", async () => {
    const free = (await fs.promises.statfs(files)).bavail * (await fs.promises.statfs(files)).bsize;
    const huge = Math.ceil((free + 2 ** 40) / 4096) * 4096;
    const file = path.join(files, "thin.img");
    const err = (await engine.createStorageObject({ plugin: "fileio", name: "t", dev: file, size: huge }).catch((e: unknown) => e)) as EngineError;
    expect(err).toBeInstanceOf(EngineError);
    expect(err.code).toBe("overcommit");
    expect(err.field).toBe("size");
    expect(err.message).toMatch(/TiB is more than the [\d.]+ [KMGT]iB free .*confirm over-commit/);
    expect(fs.existsSync(file)).toBe(false);
    const full = (await engine.createStorageObject({ plugin: "fileio", name: "t", dev: file, size: huge, sparse: false }).catch((e: unknown) => e)) as EngineError;
    expect(full.message).toMatch(/has only [\d.]+ [KMGT]iB free/);
    expect(fs.existsSync(file)).toBe(false);
    const so = await engine.createStorageObject({ plugin: "fileio", name: "t", dev: file, size: huge, overcommit: true });
    expect(so.sizeBytes).toBe(huge);
    expect(so.fileCreated).toBe(true);
    await engine.deleteStorageObject("fileio", "t", { deleteFile: true });
    expect(fs.existsSync(file)).toBe(false);
  });

  it("storage roots restrict fileio; a root that would exclude an existing object is refused", async () => {
    const inRoot = path.join(root, "roots", "a");
    fs.mkdirSync(inRoot, { recursive: true });
    await engine.setStorageRoots([inRoot]);
    await refusedWith(path.join(files, "x.img"), 1 << 20, /outside the storage roots/);
    await engine.createStorageObject({ plugin: "fileio", name: "in", dev: path.join(inRoot, "x.img"), size: 1 << 20 });
    expect(engine.defaultFilePath("vm1")).toBe(path.join(inRoot, "vm1.img"));
    await expect(engine.setStorageRoots([files])).rejects.toThrow(/outside the storage roots: fileio\/in /);
    await expect(engine.setStorageRoots(["/etc"])).rejects.toThrow(/system directory/);
    await expect(engine.setStorageRoots([dataDir])).rejects.toThrow(/data directory/);
    await expect(engine.setStorageRoots([path.join(root, "nope")])).rejects.toThrow(/not an existing directory/);
    await engine.setStorageRoots([]);
    expect(engine.defaultFilePath("vm1")).toBe(path.join(root, "storage", "vm1.img"));
  });

  it("resolveFileioPath reports the real path of a new file", async () => {
    fs.symlinkSync(files, path.join(root, "files-link"));
    const r = await resolveFileioPath(path.join(root, "files-link", "n.img"), { dataDir });
    expect(r).toMatchObject({ realPath: path.join(files, "n.img"), exists: false, size: 0 });
  });
});
