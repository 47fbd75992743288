/**
 * The TPG's `node` (issue 14 item 1): which cluster node serves a TPG. It round-trips
 * through saveconfig.json and the database, a bad name is refused at its path, and in the
 * engine a node opens the portals of its own TPGs only (a single appliance opens all);
 * moving a TPG opens or closes its portals.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigImportError } from "@/server/config/errors";
import { freePort } from "../../support/ports";
import { startTarget, TARGET, type Harness } from "../iscsi/harness";
import { lioExample, makeFixture, type Fixture } from "./helpers";

const connects = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1" }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });

describe("TPG node in the configuration", () => {
  let fx: Fixture | undefined;
  afterEach(async () => {
    await fx?.cleanup();
    fx = undefined;
  });

  it("round-trips through saveconfig.json and a restart; absent stays absent", async () => {
    fx = makeFixture();
    const doc = lioExample(fx.dir) as { targets: { tpgs: Record<string, unknown>[] }[] };
    doc.targets[0]!.tpgs[0]!.node = "GW-B";
    await fx.service.importSaveconfig(doc);
    const out = JSON.parse(fx.service.exportSaveconfig()) as { targets: { tpgs: Record<string, unknown>[] }[] };
    expect(out.targets[0]!.tpgs[0]!.node).toBe("gw-b");
    fx = await fx.restart();
    await fx.service.restore();
    const again = JSON.parse(fx.service.exportSaveconfig()) as { targets: { wwn: string; tpgs: Record<string, unknown>[] }[] };
    expect(again.targets[0]!.tpgs[0]!.node).toBe("gw-b");
    expect(fx.engine.tpg(again.targets[0]!.wwn, 1).node).toBe("gw-b");
    await fx.service.setTpgNode(again.targets[0]!.wwn, 1, undefined);
    const cleared = JSON.parse(fx.service.exportSaveconfig()) as { targets: { tpgs: Record<string, unknown>[] }[] };
    expect("node" in cleared.targets[0]!.tpgs[0]!).toBe(false);
  });

  it("a bad node name is refused at its path and nothing is applied", async () => {
    fx = makeFixture();
    const doc = lioExample(fx.dir) as { targets: { tpgs: Record<string, unknown>[] }[] };
    doc.targets[0]!.tpgs[0]!.node = "gw_b";
    const err = await fx.service.importSaveconfig(doc).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigImportError);
    expect(JSON.stringify((err as ConfigImportError).issues)).toMatch(/tpgs\[0\]\.node.*not a valid node name/);
    expect(fx.service.config().targets).toEqual([]);
  });
});

describe("TPG node in the engine", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("a node opens its own TPGs' portals only; moving a TPG opens or closes them", async () => {
    h = await startTarget();
    h.engine.localNode = "gw-a";
    const port = await freePort();
    h.engine.createTpg(TARGET, 2, { node: "gw-b" });
    await h.engine.createPortal(TARGET, 2, "127.0.0.1", port);
    expect(await connects(port)).toBe(false);
    expect(h.engine.portalKeys()).not.toContain(`127.0.0.1:${port}`);
    await h.engine.setTpgNode(TARGET, 2, "gw-a");
    expect(await connects(port)).toBe(true);
    await h.engine.setTpgNode(TARGET, 2, "gw-b");
    expect(await connects(port)).toBe(false);
    // Deleting a portal of a TPG served elsewhere releases nothing here.
    await h.engine.deletePortal(TARGET, 2, `127.0.0.1:${port}`);
    expect(await connects(h.port)).toBe(true); // tpg1 (no node) is untouched
  });

  it("a single appliance (no localNode) serves every TPG whatever its node", async () => {
    h = await startTarget();
    const port = await freePort();
    h.engine.createTpg(TARGET, 3, { node: "gw-z" });
    await h.engine.createPortal(TARGET, 3, "127.0.0.1", port);
    expect(await connects(port)).toBe(true);
  });

  it("refuses a bad node name and keeps the TPG as it was", async () => {
    h = await startTarget();
    expect(() => h!.engine.createTpg(TARGET, 4, { node: "-bad" })).toThrow(/not a valid node name/);
    await expect(h.engine.setTpgNode(TARGET, 1, "no_underscores")).rejects.toThrow(/not a valid node name/);
    expect(h.engine.tpg(TARGET, 1).node).toBeUndefined();
  });
});
