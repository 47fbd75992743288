/**
 * The Cluster page's service and schemas (issue 14, point 5): the join form's schema (endpoints
 * and node name, the same rules as PORTICO_CLUSTER / PORTICO_NODE), the removal confirmation,
 * the saved join file, the lease arithmetic and the overview of a single appliance (ownership
 * not available, never made up).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { evictNodeSchema, joinClusterSchema, moveOwnershipSchema } from "../../../server/api/schemas/cluster";
import { parseEndpoints } from "../../../server/cluster/endpoints";
import { clusterOverview, getOwnershipSource, lunsOf, renewedAgo, setOwnershipSource } from "../../../server/cluster/console";
import { ClusterControl, readSavedCluster, SAVED_FILE, setClusterControl, writeSavedCluster } from "../../../server/cluster/join";
import { expectDurablyRemoved, expectDurablyReplaced, recordFsOps } from "../../support/durability";
import { makeEngine } from "../config/helpers";

const issuesOf = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
  Object.fromEntries((r.error?.issues ?? []).map((i) => [i.path.map(String).join("."), i.message]));

describe("join form schema", () => {
  it("takes bare, etcd:// and http:// endpoint lists and lowercases the node name", () => {
    expect(joinClusterSchema.parse({ endpoints: " 10.0.0.5:2379, 10.0.0.6:2379 ", node: "GW-A" })).toEqual({ endpoints: ["http://10.0.0.5:2379", "http://10.0.0.6:2379"], node: "gw-a" });
    expect(joinClusterSchema.parse({ endpoints: "etcd://e1:2379,e1:2379", node: "b" }).endpoints).toEqual(["http://e1:2379"]);
    expect(joinClusterSchema.parse({ endpoints: "http://[fd00::1]:2379", node: "b" }).endpoints).toEqual(["http://[fd00::1]:2379"]);
  });
  it("puts each refusal on its field", () => {
    expect(issuesOf(joinClusterSchema.safeParse({ endpoints: "", node: "" }))).toEqual({ endpoints: expect.stringMatching(/^required/), node: "required" });
    expect(issuesOf(joinClusterSchema.safeParse({ endpoints: "etcd1", node: "gw_a" }))).toEqual({ endpoints: '"etcd1" is not host:port', node: expect.stringMatching(/^not a valid node name/) });
    expect(issuesOf(joinClusterSchema.safeParse({ endpoints: "h:70000", node: "-a" }))).toMatchObject({ endpoints: '"h:70000" is not host:port' });
    expect(issuesOf(joinClusterSchema.safeParse({ endpoints: "redis://h:1", node: "a" }))).toEqual({ endpoints: expect.stringMatching(/expected etcd:\/\//) });
  });
  it("PORTICO_CLUSTER's rule does not take bare lists (the form does)", () => {
    expect(parseEndpoints("h:1")).toEqual({ reason: expect.stringMatching(/expected etcd/) });
    expect(parseEndpoints("h:1", { bare: true })).toEqual({ endpoints: ["http://h:1"] });
  });
  it("removal asks for the node's name", () => {
    expect(issuesOf(evictNodeSchema.safeParse({ node: "gw-b", confirm: "gw-a" }))).toEqual({ confirm: "type the node's name to confirm" });
    expect(evictNodeSchema.parse({ node: "gw-b", confirm: " GW-B " })).toEqual({ node: "gw-b", confirm: "gw-b" });
    expect(issuesOf(moveOwnershipSchema.safeParse({ lu: "", to: "x_y" }))).toEqual({ lu: "required", to: expect.stringMatching(/not a valid node name/) });
  });
});

describe("saved join and leases", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    setClusterControl(undefined);
    setOwnershipSource(undefined);
  });
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "portico-cc-"));
    dirs.push(d);
    return d;
  };

  it("reads cluster.json; a damaged one is reported and ignored", () => {
    const d = tmp();
    expect(readSavedCluster(d)).toBeUndefined();
    fs.writeFileSync(path.join(d, SAVED_FILE), JSON.stringify({ endpoints: ["http://h:1"], node: "gw-a", joinedAt: "2026-01-01T00:00:00.000Z" }));
    expect(readSavedCluster(d)).toEqual({ endpoints: ["http://h:1"], node: "gw-a", joinedAt: "2026-01-01T00:00:00.000Z" });
    fs.writeFileSync(path.join(d, SAVED_FILE), "{ not json");
    const warnings: string[] = [];
    expect(readSavedCluster(d, (m) => warnings.push(m))).toBeUndefined();
    expect(warnings[0]).toMatch(/cluster\.json is not readable/);
  });

  it("a join is saved durably: the new cluster.json synced before its rename, the directory after", () => {
    const d = tmp();
    const saved = { endpoints: ["http://h:1"], node: "gw-a", joinedAt: "2026-01-01T00:00:00.000Z", by: "admin" };
    const ops = recordFsOps(() => writeSavedCluster(d, saved));
    expectDurablyReplaced(ops, path.join(d, SAVED_FILE), JSON.stringify(saved, null, 2) + "\n");
    expect(readSavedCluster(d)).toEqual({ endpoints: ["http://h:1"], node: "gw-a", joinedAt: "2026-01-01T00:00:00.000Z" });
    expect(fs.statSync(path.join(d, SAVED_FILE)).mode & 0o777).toBe(0o600);
  });

  it("a save that fails at the rename (a crash there) leaves the old join intact and no temp file", () => {
    const d = tmp();
    writeSavedCluster(d, { endpoints: ["http://old:1"], node: "gw-old", joinedAt: "2026-01-01T00:00:00.000Z" });
    const rename = vi.spyOn(fs, "renameSync").mockImplementationOnce(() => {
      throw Object.assign(new Error("EIO: i/o error, rename"), { code: "EIO" });
    });
    try {
      expect(() => writeSavedCluster(d, { endpoints: ["http://new:1"], node: "gw-new", joinedAt: "2026-01-02T00:00:00.000Z" })).toThrow(/EIO/);
    } finally {
      rename.mockRestore();
    }
    expect(readSavedCluster(d)).toMatchObject({ node: "gw-old", endpoints: ["http://old:1"] });
    expect(fs.readdirSync(d)).toEqual([SAVED_FILE]);
  });

  it("leaving removes the saved join durably (the directory is synced after the unlink)", async () => {
    const d = tmp();
    writeSavedCluster(d, { endpoints: ["http://h:1"], node: "gw-a", joinedAt: "2026-01-01T00:00:00.000Z" });
    const engine = makeEngine();
    const control = new ClusterControl({ dataDir: d, engine, membership: () => { throw new Error("must not start"); } });
    control.pending = { endpoints: ["http://h:1"], node: "gw-a", reason: "test" };
    let left: Promise<{ rejoinsAtStart: boolean }> | undefined;
    // leave() removes the file before its first await: the calls are all made synchronously.
    const ops = recordFsOps(() => { left = control.leave("admin"); });
    await expect(left).resolves.toEqual({ rejoinsAtStart: false });
    expectDurablyRemoved(ops, path.join(d, SAVED_FILE));
    expect(readSavedCluster(d)).toBeUndefined();
    await engine.shutdown();
  });

  it("seconds since the last renewal come from what is left of the lease", () => {
    expect(renewedAgo({ ttl: 3, grantedTtl: 3 })).toBe(0);
    expect(renewedAgo({ ttl: 1, grantedTtl: 3 })).toBe(2);
    expect(renewedAgo({ ttl: -1, grantedTtl: 3 })).toBe(3);
  });

  it("a single appliance: mode single, no nodes, ownership not available even with a source registered", async () => {
    const engine = makeEngine();
    setOwnershipSource({ status: () => [{ lu: "a", owner: "gw-a", state: "owner", since: null, aluaState: "Active/Optimized", reason: null, lastChange: null }] });
    const o = await clusterOverview(engine);
    expect(o).toMatchObject({ mode: "single", node: null, nodes: [], pending: null, left: null, canMove: false, ownership: { available: false, reason: "this node is not a cluster member" } });
    await engine.shutdown();
  });

  it("leave without a membership is refused with a message; a join to an unreachable etcd is refused at the endpoints field and saves nothing", async () => {
    const d = tmp();
    const engine = makeEngine();
    const control = new ClusterControl({ dataDir: d, engine, membership: () => { throw new Error("must not start"); } });
    await expect(control.leave("admin")).rejects.toMatchObject({ field: "form", message: "this node is not a member of a cluster" });
    // Port 1 on loopback: nothing listens, so etcd is not reachable.
    await expect(control.join({ endpoints: ["http://127.0.0.1:1"], node: "gw-a" }, "admin")).rejects.toMatchObject({ field: "endpoints", message: expect.stringMatching(/is not reachable/) });
    expect(fs.existsSync(path.join(d, SAVED_FILE))).toBe(false);
    await engine.shutdown();
  });

  it("lunsOf finds the LUNs that export a storage object", async () => {
    const engine = makeEngine();
    expect(lunsOf(engine, ["rbd/none"])).toEqual([]);
    expect(getOwnershipSource()).toBeUndefined();
    await engine.shutdown();
  });
});
