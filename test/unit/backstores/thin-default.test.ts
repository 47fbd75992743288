/** Thin provisioning on by default for new sparse fileio files (emulate_tpu/tpws), as UNMAP is what keeps them thin. */
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeFixture, tempDir, type Fixture } from "../config/helpers";

let fx: Fixture;
let dir: string;
beforeEach(() => {
  fx = makeFixture();
  dir = tempDir("portico-thin-");
});
afterEach(async () => {
  await fx.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

const attrs = (name: string) => fx.engine.storageObject("fileio", name).attributes;

describe("thin provisioning default for fileio", () => {
  it("a new sparse file gets emulate_tpu=1 and emulate_tpws=1 (punch-hole works here)", async () => {
    await fx.service.createStorageObject({ plugin: "fileio", name: "thin", dev: path.join(dir, "thin.img"), size: 8 << 20 });
    expect(fx.engine.storageObject("fileio", "thin").backstore.reclaims).toBe(true);
    expect([attrs("thin").emulate_tpu, attrs("thin").emulate_tpws]).toEqual([1, 1]);
    // Stored as such: a restart keeps it.
    fx = await fx.restart();
    await fx.service.restore();
    expect([attrs("thin").emulate_tpu, attrs("thin").emulate_tpws]).toEqual([1, 1]);
  });

  it("a preallocated file, an existing file and explicit attributes keep LIO's default (0)", async () => {
    await fx.service.createStorageObject({ plugin: "fileio", name: "thick", dev: path.join(dir, "thick.img"), size: 1 << 20, sparse: false });
    expect([attrs("thick").emulate_tpu, attrs("thick").emulate_tpws]).toEqual([0, 0]);
    const existing = path.join(dir, "existing.img");
    fs.writeFileSync(existing, Buffer.alloc(1 << 20));
    await fx.service.createStorageObject({ plugin: "fileio", name: "existing", dev: existing });
    expect([attrs("existing").emulate_tpu, attrs("existing").emulate_tpws]).toEqual([0, 0]);
    await fx.service.createStorageObject({ plugin: "fileio", name: "asked", dev: path.join(dir, "asked.img"), size: 1 << 20, attributes: { emulate_tpu: 0 } });
    expect([attrs("asked").emulate_tpu, attrs("asked").emulate_tpws]).toEqual([0, 1]);
  });
});
