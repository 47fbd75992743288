/**
 * Cluster step 2, one configuration everywhere (issue 14): the configuration lives in a real etcd
 * (/portico/v1/config), each node's SQLite is its copy. Real Portico processes on loopback:
 * the first node seeds etcd, a new node takes the cluster's configuration, a change on one node
 * is served by the other within about a second (API and an iSCSI login through the other node's
 * portal), concurrent conflicting changes are refused by name and never half-applied, a node
 * that was stopped catches up (its local-only changes kept as a backup), etcd unreachable
 * refuses changes while iSCSI keeps serving, restoreconfig on one member applies to all.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEtcd, type Etcd } from "../support/etcd";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, type PorticoProcess } from "../support/portico";
import { until } from "../support/until";
import { apiClient } from "./monitor-support";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.clustercfg001";
const INITIATOR = "iqn.2024-01.org.portico.test:cluster-config";
let etcd: Etcd;
let pa = 0;
let pb = 0;
const started: { server: PorticoProcess; dataDir: string }[] = [];

interface Node {
  name: string;
  server: PorticoProcess;
  dataDir: string;
  api: ReturnType<typeof apiClient>;
}
const nodes: Record<string, Node> = {};

/** One target for two gateways: tpg1 served by gw-a, tpg2 by gw-b, both exporting the same LU. */
function clusterDoc() {
  return {
    storage_objects: [{ plugin: "ramdisk", name: "shared0", size: 8 * 1024 * 1024, wwn: "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f" }],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [1, 2].map((tag) => ({
          tag,
          enable: true,
          node: tag === 1 ? "gw-a" : "gw-b",
          attributes: { authentication: 0, generate_node_acls: 0 },
          luns: [{ index: 0, storage_object: "/backstores/ramdisk/shared0" }],
          portals: [{ ip_address: "127.0.0.1", port: tag === 1 ? pa : pb }],
          node_acls: [],
        })),
      },
    ],
  };
}

async function startNode(name: string, dataDir = makeDataDir(`portico-cfg-${name}-`)): Promise<Node> {
  const server = await startPortico({ dataDir, env: { PORTICO_CLUSTER: etcd.clusterUrl, PORTICO_NODE: name } });
  started.push({ server, dataDir });
  const node = { name, server, dataDir, api: apiClient(server.url, dataDir) };
  nodes[name] = node;
  return node;
}

const exported = (n: Node) => n.api.config.export.query({ secrets: true });
const aclNames = async (n: Node, tag: number) => {
  const t = (await n.api.config.tree.query()).targets.find((x) => x.wwn === IQN);
  return (t?.tpgs.find((g) => g.tag === tag)?.nodeAcls ?? []).map((a) => a.initiatorName).sort();
};
const inquiry = (port: number) => sh("iscsi-inq", ["-i", INITIATOR, `iscsi://127.0.0.1:${port}/${IQN}/0`], 30_000);
const etcdDoc = () => JSON.parse(etcd.ctl("get", "/portico/v1/config", "--print-value-only")) as { node: string; config: { targets: { wwn: string; tpgs: { tag: number; nodeAcls: { initiatorName: string }[] }[] }[] } };
const etcdAcls = (tag: number) => (etcdDoc().config.targets.find((t) => t.wwn === IQN)?.tpgs.find((g) => g.tag === tag)?.nodeAcls ?? []).map((a) => a.initiatorName).sort();

beforeAll(async () => {
  etcd = await startEtcd();
  pa = await freePort();
  pb = await freePort();
});
afterAll(async () => {
  etcd?.resume();
  for (const n of started) {
    await n.server.stop().catch(() => n.server.kill());
    removeDir(n.dataDir);
  }
  await etcd?.stop();
});

describe("one configuration in etcd", () => {
  it("the first node seeds etcd; a node with an empty data directory takes the cluster's configuration and serves its own TPG", async () => {
    const dataDir = makeDataDir("portico-cfg-gw-a-");
    const file = `${dataDir}/cluster.json`;
    writeFileSync(file, JSON.stringify(clusterDoc()));
    expect(portico(dataDir, ["restoreconfig", file]).status).toBe(0);
    const a = await startNode("gw-a", dataDir);
    await waitForPort(pa);
    const doc = await until("the seeded document", () => etcdDoc(), (d) => !!d, 15_000, 100);
    expect(doc!.node).toBe("gw-a");
    expect(doc!.config.targets.map((t) => t.wwn)).toEqual([IQN]);

    const b = await startNode("gw-b");
    await waitForPort(pb, "127.0.0.1", 15_000);
    // The same configuration, byte for byte (same target IQN, same unit serial, same TPG nodes).
    const same = await until("gw-b's copy", async () => [await exported(a), await exported(b)], ([x, y]) => x === y, 15_000, 100);
    expect(same[1]).toContain("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f");
    // Each serves its own TPG: gw-b listens on pb only.
    expect(portico(b.dataDir, ["status"]).stdout).toContain(`portal 127.0.0.1:${pb} (${IQN} tpg2): listening`);
    expect(portico(b.dataDir, ["status"]).stdout).toContain(`tpg1): served by node gw-a`);
  });

  it("a change on one node is served by the other within a second: API and iSCSI login through the other's portal", async () => {
    const a = nodes["gw-a"]!;
    const b = nodes["gw-b"]!;
    // No ACL yet: gw-b's portal refuses the initiator.
    expect(inquiry(pb).status).not.toBe(0);
    const t0 = Date.now();
    await a.api.targets.acls.create.mutate({ wwn: IQN, tag: 2, initiatorName: INITIATOR });
    const committed = Date.now();
    await until("the ACL on gw-b", () => aclNames(b, 2), (v) => v.includes(INITIATOR), 5_000, 10);
    const seen = Date.now() - committed;
    process.stdout.write(`cluster-config: ACL made on gw-a (${committed - t0} ms) served by gw-b ${seen} ms after gw-a answered\n`);
    // The goal is 1 s; measured 10–600 ms on this shared machine under a load average of 20–30 (margin for worse).
    expect(seen).toBeLessThan(2_000);
    const inq = inquiry(pb);
    expect(inq.status, inq.stdout + inq.stderr).toBe(0);
    expect(inq.stdout).toMatch(/LIO-ORG/);

    // And the other way round: deleted on gw-b, gone from gw-a.
    await b.api.targets.acls.delete.mutate({ wwn: IQN, tag: 2, initiatorName: INITIATOR });
    const t1 = Date.now();
    await until("the ACL gone from gw-a", () => aclNames(a, 2), (v) => !v.includes(INITIATOR), 5_000, 10);
    expect(Date.now() - t1).toBeLessThan(2_000);
    expect(etcdDoc().node).toBe("gw-b");
    expect(inquiry(pb).status).not.toBe(0);
  });

  it("an ACL change does not disturb a session on another ACL", async () => {
    const a = nodes["gw-a"]!;
    const b = nodes["gw-b"]!;
    await a.api.targets.acls.create.mutate({ wwn: IQN, tag: 2, initiatorName: INITIATOR });
    await until("the ACL on gw-b", () => aclNames(b, 2), (v) => v.includes(INITIATOR), 5_000, 20);
    // A long-running read through gw-b's portal (iscsi-perf runs until killed; a generous IO timeout for a loaded machine):
    // it must keep its session and see no error.
    const { spawn } = await import("node:child_process");
    const perf = spawn("iscsi-perf", ["-i", INITIATOR, "-t", "60", `iscsi://127.0.0.1:${pb}/${IQN}/0`], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    perf.stdout.on("data", (d) => (out += d));
    perf.stderr.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => perf.once("exit", (code) => r(code)));
    try {
      await until("a session on gw-b", async () => (await b.api.sessions.list.query()).length, (n) => n > 0, 10_000, 100);
      const before = await b.api.sessions.list.query();
      for (let i = 0; i < 3; i++) {
        const other = `${INITIATOR}-other${i}`;
        await a.api.targets.acls.create.mutate({ wwn: IQN, tag: 2, initiatorName: other });
        await until("the other ACL on gw-b", () => aclNames(b, 2), (v) => v.includes(other), 5_000, 20);
      }
      const after = await b.api.sessions.list.query();
      expect(after.map((s) => s.id), out).toEqual(before.map((s) => s.id));
      expect(perf.exitCode).toBeNull();
    } finally {
      perf.kill("SIGINT");
      await exited;
    }
    expect(out).not.toMatch(/failed|error/i);
  });

  it("concurrent changes on two nodes: the loser is refused by name, nothing of it lands anywhere, both converge", async () => {
    const a = nodes["gw-a"]!;
    const b = nodes["gw-b"]!;
    const refused: string[] = [];
    const landed: string[] = [];
    for (let round = 0; round < 20 && refused.length === 0; round++) {
      const names = [`${INITIATOR}-a${round}`, `${INITIATOR}-b${round}`];
      const results = await Promise.allSettled([
        a.api.targets.acls.create.mutate({ wwn: IQN, tag: 1, initiatorName: names[0]! }),
        b.api.targets.acls.create.mutate({ wwn: IQN, tag: 1, initiatorName: names[1]! }),
      ]);
      results.forEach((r, i) => {
        if (r.status === "fulfilled") landed.push(names[i]!);
        else {
          expect(r.reason.message).toMatch(/the configuration was changed on node gw-[ab] meanwhile \(cluster revision \d+\): nothing was changed here; reload and retry/);
          refused.push(names[i]!);
        }
      });
      // Converged: both nodes and etcd hold exactly the changes that were accepted.
      const want = landed.slice().sort();
      await until("gw-a converged", () => aclNames(a, 1), (v) => v.join() === want.join(), 5_000, 20);
      await until("gw-b converged", () => aclNames(b, 1), (v) => v.join() === want.join(), 5_000, 20);
      expect(etcdAcls(1)).toEqual(want);
    }
    process.stdout.write(`cluster-config: ${landed.length} concurrent change(s) accepted, ${refused.length} refused\n`);
    expect(refused.length).toBeGreaterThan(0);
    expect(await exported(a)).toBe(await exported(b));
  });

  it("a node that was stopped catches up when it returns; its local-only changes are kept as a backup, with an event", async () => {
    const a = nodes["gw-a"]!;
    const b = nodes["gw-b"]!;
    await b.server.stop();
    // Edits keep working with gw-b down.
    await a.api.targets.acls.create.mutate({ wwn: IQN, tag: 2, initiatorName: `${INITIATOR}-while-down` });
    await a.api.targets.acls.delete.mutate({ wwn: IQN, tag: 2, initiatorName: INITIATOR });
    // A change made on stopped gw-b's own data directory (offline): local only.
    const offline = portico(b.dataDir, [`/iscsi/${IQN}/tpg2/acls`, "create", "iqn.2024-01.org.portico.test:offline-only"]);
    expect(offline.status, offline.stderr).toBe(0);

    const b2 = await startNode("gw-b", b.dataDir);
    const t0 = Date.now();
    const want = await aclNames(a, 2);
    const got = await until("gw-b caught up", () => aclNames(b2, 2), (v) => v.join() === want.join(), 15_000, 50);
    process.stdout.write(`cluster-config: gw-b caught up ${Date.now() - t0} ms after it answered\n`);
    expect(got).toContain(`${INITIATOR}-while-down`);
    expect(got).not.toContain("iqn.2024-01.org.portico.test:offline-only");
    expect(await exported(b2)).toBe(await exported(a));
    // Its local-only configuration is a backup, named in the event log.
    const events = await until("the event", () => b2.api.events.list.query({ types: ["cluster_config"], limit: 10 }), (e) => e.length > 0, 5_000, 100);
    const msg = events.map((e) => e.message ?? "").join("\n");
    expect(msg).toMatch(/the local one is kept as backup saveconfig-/);
    const name = /backup (saveconfig-[^\s;]+)/.exec(msg)![1]!;
    expect(portico(b2.dataDir, ["backups"]).stdout).toContain(name);
    expect(await b2.api.config.backups.download.query({ name })).toContain("offline-only");
  });

  it("with etcd unreachable a change is refused clearly and iSCSI keeps serving; changes work again once it answers", async () => {
    const a = nodes["gw-a"]!;
    const b = nodes["gw-b"]!;
    await a.api.targets.acls.create.mutate({ wwn: IQN, tag: 2, initiatorName: INITIATOR });
    await until("the ACL on gw-b", () => aclNames(b, 2), (v) => v.includes(INITIATOR), 5_000, 20);
    etcd.pause();
    try {
      const t0 = Date.now();
      await expect(a.api.targets.acls.create.mutate({ wwn: IQN, tag: 2, initiatorName: `${INITIATOR}-etcd-down` })).rejects.toThrow(
        /etcd at http:\/\/127\.0\.0\.1:\d+ is not reachable .*: configuration changes are refused on this node until it answers; it keeps serving/,
      );
      expect(Date.now() - t0).toBeLessThan(10_000);
      // Nothing of it stayed.
      expect(await aclNames(a, 2)).not.toContain(`${INITIATOR}-etcd-down`);
      // Both nodes keep serving: logins and IO through each portal.
      for (const port of [pb]) {
        const inq = inquiry(port);
        expect(inq.status, inq.stdout + inq.stderr).toBe(0);
      }
      expect((await a.api.system.status.query()).counts.portalsListening).toBe(1);
    } finally {
      etcd.resume();
    }
    await until(
      "a change accepted again",
      () => a.api.targets.acls.create.mutate({ wwn: IQN, tag: 2, initiatorName: `${INITIATOR}-etcd-back` }).then(() => true, () => false),
      (ok) => ok,
      20_000,
      500,
    );
    await until("on gw-b too", () => aclNames(b, 2), (v) => v.includes(`${INITIATOR}-etcd-back`), 5_000, 20);
  });

  it("restoreconfig on one member applies to the whole cluster", async () => {
    const a = nodes["gw-a"]!;
    const b = nodes["gw-b"]!;
    const doc = clusterDoc();
    doc.storage_objects.push({ plugin: "ramdisk", name: "shared1", size: 4 * 1024 * 1024, wwn: "1c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f" });
    for (const tpg of doc.targets[0]!.tpgs) (tpg.luns as { index: number; storage_object: string }[]).push({ index: 1, storage_object: "/backstores/ramdisk/shared1" });
    const file = `${b.dataDir}/restore.json`;
    writeFileSync(file, JSON.stringify(doc));
    const r = portico(b.dataDir, ["restoreconfig", file, "--clear"]);
    expect(r.status, r.stderr).toBe(0);
    const text = await until("gw-a has shared1", () => exported(a), (t) => t.includes("1c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"), 5_000, 20);
    expect(text).toBe(await exported(b));
    expect(await aclNames(a, 2)).toEqual([]);
  });

  it("without PORTICO_CLUSTER nothing of this runs: changes are local", async () => {
    const dataDir = makeDataDir("portico-cfg-single-");
    const server = await startPortico({ dataDir });
    started.push({ server, dataDir });
    const api = apiClient(server.url, dataDir);
    const before = etcd.ctl("get", "/portico/v1/config", "-w", "json");
    await api.targets.create.mutate({ wwn: "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.single000001" });
    expect((await api.targets.list.query()).map((t) => t.wwn)).toEqual(["iqn.2003-01.org.linux-iscsi.portico.x8664:sn.single000001"]);
    expect(JSON.parse(etcd.ctl("get", "/portico/v1/config", "-w", "json")).kvs[0].mod_revision).toBe(JSON.parse(before).kvs[0].mod_revision);
    expect(server.output()).not.toMatch(/cluster/);
  });
});
