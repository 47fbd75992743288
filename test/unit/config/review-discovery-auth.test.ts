/**
 * Discovery authentication survives a restart (restore puts it back into the engine),
 * and a failed clear-import puts the previous discovery authentication back.
 */
import { afterEach, describe, expect, it } from "vitest";
import { makeFixture, type Fixture } from "./helpers";

let fx: Fixture;
afterEach(async () => {
  await fx.cleanup();
});

describe("discovery authentication across restore", () => {
  it("is applied to the engine at start-up (restore)", async () => {
    fx = makeFixture();
    await fx.service.setDiscoveryAuth({ enabled: true, userid: "disc", password: "discSecret123" });
    fx = await fx.restart();
    const warnings = await fx.service.restore();
    expect(warnings).toEqual([]);
    expect(fx.engine.discoveryAuth).toEqual({ enabled: true, userid: "disc", password: "discSecret123" });
  });

  it("is put back when an import with clear fails part-way", async () => {
    fx = makeFixture();
    await fx.service.setDiscoveryAuth({ enabled: true, userid: "disc", password: "discSecret123" });
    // Refused after the clear: the fileio backing file's directory does not exist.
    const bad = {
      storage_objects: [{ plugin: "fileio", name: "f0", dev: "/nonexistent-dir-portico/f0.img", size: 1048576, write_back: false, attributes: {} }],
      targets: [],
    };
    await expect(fx.service.importSaveconfig(bad, { clear: true })).rejects.toThrow();
    expect(fx.engine.discoveryAuth).toEqual({ enabled: true, userid: "disc", password: "discSecret123" });
  });
});
