/**
 * Cluster step 1, joining (issue 14): nodes started with PORTICO_CLUSTER and PORTICO_NODE
 * register under leased keys in a real etcd and see each other; a node that is killed -9
 * drops out when its lease expires, one that stops leaves at once; a second process with a
 * taken name is refused by name; an unreachable etcd is a status, not a crash, and the node
 * joins once etcd answers. Without PORTICO_CLUSTER nothing changes (cluster: null).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEtcd, type Etcd } from "../support/etcd";
import { startMember } from "../support/gateways";
import { freePort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, type PorticoProcess } from "../support/portico";
import { until } from "../support/until";
import { apiClient } from "./monitor-support";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.cluster00001";
let etcd: Etcd;
const nodes: { server: PorticoProcess; dataDir: string }[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  for (const name of NAMES) ports[name] = await freePort();
});
afterAll(async () => {
  for (const n of nodes) {
    await n.server.stop().catch(() => n.server.kill());
    removeDir(n.dataDir);
  }
  await etcd?.stop();
});

/** The gateways of these tests: each serves its own TPG (the TPG's node) on its own port. */
const NAMES = ["gw-a", "gw-b", "gw-c", "gw-d"];
const ports: Record<string, number> = {};

/**
 * One configuration for the whole cluster (step 2: it lives in etcd, and the cluster's wins over a
 * node's own): a TPG per gateway, each with its `node` and port, all exporting one storage object.
 */
function sharedConfig() {
  return {
    storage_objects: [{ plugin: "ramdisk", name: "rd0", size: 4 * 1024 * 1024, wwn: "9d0b3c1e-2f4a-4b5c-8d6e-7f8091a2b3c4" }],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: NAMES.map((name, i) => ({
          tag: i + 1,
          enable: true,
          node: name,
          attributes: { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0 },
          luns: [{ index: 0, storage_object: "/backstores/ramdisk/rd0" }],
          portals: [{ ip_address: "127.0.0.1", port: ports[name] }],
          node_acls: [],
        })),
      },
    ],
  };
}

async function startNode(name: string, clusterUrl = etcd.clusterUrl) {
  const port = ports[name]!;
  const n = await startMember({ name, saveconfig: sharedConfig(), clusterUrl, port });
  nodes.push(n);
  return { ...n, port, api: apiClient(n.server.url, n.dataDir) };
}

const memberNames = (s: { members: { name: string }[] } | null) => (s?.members ?? []).map((m) => m.name).join(",");

describe("cluster membership on etcd", () => {
  it("two nodes join and see each other, with their portals; the member keys are leased", async () => {
    const a = await startNode("gw-a");
    const b = await startNode("gw-b");
    const sa = await until("gw-a's view", () => a.api.cluster.status.query(), (s) => memberNames(s) === "gw-a,gw-b", 15_000, 100);
    expect(sa).toMatchObject({ node: "gw-a", connected: true, error: null });
    expect(sa!.members.find((m) => m.name === "gw-a")).toMatchObject({ self: true, portals: [`127.0.0.1:${a.port}`] });
    expect(sa!.members.find((m) => m.name === "gw-b")).toMatchObject({ self: false, portals: [`127.0.0.1:${b.port}`], consoleUrl: expect.stringContaining(String(b.server.httpPort)) });
    await until("gw-b's view", () => b.api.cluster.status.query(), (s) => memberNames(s) === "gw-a,gw-b", 15_000, 100);
    // etcd holds them under leases.
    const keys = etcd.ctl("get", "--prefix", "--keys-only", "/portico/v1/nodes/").split("\n").filter(Boolean);
    expect(keys.sort()).toEqual(["/portico/v1/nodes/gw-a", "/portico/v1/nodes/gw-b"]);
    expect(etcd.ctl("get", "/portico/v1/nodes/gw-b", "-w", "json")).toMatch(/"lease":\s*[1-9]/);
    // portico status on a member shows the cluster.
    const st = portico(a.dataDir, ["status"]);
    expect(st.stdout).toMatch(/cluster: node gw-a, etcd http:\/\/127\.0\.0\.1:\d+: joined/);
    expect(st.stdout).toMatch(/member gw-b: console http/);
  });

  it("a second process with a taken name is refused by name and does not replace the member", async () => {
    const dup = await startNode("gw-b");
    const s = await until("the duplicate's status", () => dup.api.cluster.status.query(), (v) => !!v?.error && v.error !== "connecting", 15_000, 100);
    expect(s).toMatchObject({ connected: false });
    expect(s!.error).toMatch(/another node is already registered as "gw-b" \(pid \d+/);
    const original = nodes.find((n) => n.server !== dup.server && n.dataDir.includes("gw-b"))!;
    const v = JSON.parse(etcd.ctl("get", "/portico/v1/nodes/gw-b", "--print-value-only")) as { pid: number };
    expect(v.pid).toBe(original.server.child.pid);
    await dup.server.stop();
  });

  it("a node killed -9 drops out when its lease expires; a node that stops leaves at once", async () => {
    const a = nodes.find((n) => n.dataDir.includes("gw-a"))!;
    const apiA = apiClient(a.server.url, a.dataDir);
    const c = await startNode("gw-c");
    await until("gw-c joined", () => apiA.cluster.status.query(), (s) => memberNames(s) === "gw-a,gw-b,gw-c", 15_000, 100);
    const t0 = Date.now();
    c.server.kill();
    await until("gw-c gone", () => apiA.cluster.status.query(), (s) => memberNames(s) === "gw-a,gw-b", 15_000, 100);
    const gone = Date.now() - t0;
    expect(gone).toBeGreaterThan(1_000); // it went by lease expiry (TTL 3 s), not by a goodbye
    const b = nodes.find((n) => n.dataDir.includes("gw-b") && n.server.child.exitCode === null)!;
    const t1 = Date.now();
    await b.server.stop();
    await until("gw-b gone", () => apiA.cluster.status.query(), (s) => memberNames(s) === "gw-a", 5_000, 100);
    expect(Date.now() - t1).toBeLessThan(gone + 1_000);
  });

  it("with etcd unreachable a node serves and says why; it joins once etcd answers", async () => {
    etcd.pause();
    let d: Awaited<ReturnType<typeof startNode>>;
    try {
      d = await startNode("gw-d");
      const s = await until("gw-d's status", () => d.api.cluster.status.query(), (v) => !!v && v.error !== "connecting", 20_000, 100);
      expect(s).toMatchObject({ connected: false, error: expect.stringMatching(/not reachable/) });
      // The node itself works: the API answers, iSCSI listens.
      expect((await d.api.system.status.query()).counts.portalsListening).toBe(1);
    } finally {
      etcd.resume();
    }
    await until("gw-d joined", () => d!.api.cluster.status.query(), (v) => !!v?.connected && memberNames(v).includes("gw-d"), 20_000, 100);
  });

  it("one saveconfig.json for two nodes: each opens the portals of its own TPG only (the TPG's node)", async () => {
    // A cluster of its own (the configuration lives in etcd: the one above has other TPGs).
    const etcd2 = await startEtcd();
    try {
      await twoNodesOneFile(etcd2);
    } finally {
      await etcd2.stop();
    }
  });

  async function twoNodesOneFile(etcd: Etcd) {
    const pa = await freePort();
    const pb = await freePort();
    const doc = () => ({
      storage_objects: [{ plugin: "ramdisk", name: "shared0", size: 4 * 1024 * 1024, wwn: "6b1f7d3c-6d2a-4f5e-9c1b-2a3b4c5d6e7f" }],
      targets: [
        {
          fabric: "iscsi",
          wwn: "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.clustertwo01",
          tpgs: [1, 2].map((tag) => ({
            tag,
            enable: true,
            node: tag === 1 ? "gw-e" : "gw-f",
            attributes: { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0 },
            luns: [{ index: 0, storage_object: "/backstores/ramdisk/shared0" }],
            portals: [{ ip_address: "127.0.0.1", port: tag === 1 ? pa : pb }],
            node_acls: [],
          })),
        },
      ],
    });
    const started: Record<string, { server: PorticoProcess; dataDir: string }> = {};
    for (const [name, port] of [["gw-e", pa], ["gw-f", pb]] as const) {
      const n = await startMember({ name, saveconfig: doc(), clusterUrl: etcd.clusterUrl, port });
      nodes.push(n);
      started[name] = n;
    }
    const listen = (dataDir: string) => portico(dataDir, ["status"]).stdout;
    const e = listen(started["gw-e"]!.dataDir);
    expect(e).toContain(`portal 127.0.0.1:${pa} (iqn.2003-01.org.linux-iscsi.portico.x8664:sn.clustertwo01 tpg1): listening`);
    expect(e).toContain(`portal 127.0.0.1:${pb} (iqn.2003-01.org.linux-iscsi.portico.x8664:sn.clustertwo01 tpg2): served by node gw-f`);
    const f = listen(started["gw-f"]!.dataDir);
    expect(f).toContain(`tpg1): served by node gw-e`);
    expect(f).toContain(`portal 127.0.0.1:${pb} (iqn.2003-01.org.linux-iscsi.portico.x8664:sn.clustertwo01 tpg2): listening`);
    // Each member publishes only the portals it opened.
    const api = apiClient(started["gw-e"]!.server.url, started["gw-e"]!.dataDir);
    const s = await until("both published", () => api.cluster.status.query(), (v) => memberNames(v).includes("gw-e") && memberNames(v).includes("gw-f"), 15_000, 100);
    expect(s!.members.find((m) => m.name === "gw-e")!.portals).toEqual([`127.0.0.1:${pa}`]);
    expect(s!.members.find((m) => m.name === "gw-f")!.portals).toEqual([`127.0.0.1:${pb}`]);
    // Moving tpg2 to any node, on gw-e, would open it there too: gw-f holds the port, so the change is refused and nothing moves.
    await api.targets.tpgs.setNode.mutate({ wwn: "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.clustertwo01", tag: 2, node: null }).catch((err: Error) => {
      // gw-f holds the port on the same loopback address: opening it here fails cleanly and changes nothing.
      expect(err.message).toMatch(/in use|EADDRINUSE/i);
    });
    expect(listen(started["gw-e"]!.dataDir)).toContain(`tpg2): served by node gw-f`);

    // SendTargets on either node lists every live node's portals; a dead node's go with its lease.
    const discover = (port: number) => sh("iscsi-ls", ["-i", "iqn.2024-01.org.portico.test:cluster", `iscsi://127.0.0.1:${port}`], 30_000);
    for (const port of [pa, pb]) {
      const d = discover(port);
      expect(d.status, d.stderr).toBe(0);
      expect(d.stdout).toContain(`127.0.0.1:${pa},1`);
      expect(d.stdout).toContain(`127.0.0.1:${pb},2`);
    }
    started["gw-f"]!.server.kill();
    await until("gw-f gone", () => api.cluster.status.query(), (v) => !memberNames(v).includes("gw-f"), 15_000, 100);
    const after = discover(pa);
    expect(after.status, after.stderr).toBe(0);
    expect(after.stdout).toContain(`127.0.0.1:${pa},1`);
    expect(after.stdout).not.toContain(`127.0.0.1:${pb},2`);
  }

  it("without PORTICO_CLUSTER the appliance is a single node", async () => {
    const dataDir = makeDataDir("portico-single-");
    const server = await startPortico({ dataDir });
    nodes.push({ server, dataDir });
    const api = apiClient(server.url, dataDir);
    expect(await api.cluster.status.query()).toBeNull();
    expect((await api.system.status.query()).cluster).toBeNull();
  });

  it("a malformed PORTICO_CLUSTER stops the start with a clear message", async () => {
    const dataDir = makeDataDir("portico-badcluster-");
    try {
      await expect(startPortico({ dataDir, env: { PORTICO_CLUSTER: "etcd://nohost" } })).rejects.toThrow(/PORTICO_CLUSTER=etcd:\/\/nohost: "nohost" is not host:port/);
    } finally {
      removeDir(dataDir);
    }
  });
});
