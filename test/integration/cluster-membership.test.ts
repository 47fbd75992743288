/**
 * Cluster step 1, joining (issue 14): nodes started with PORTICO_CLUSTER and PORTICO_NODE
 * register under leased keys in a real etcd and see each other; a node that is killed -9
 * drops out when its lease expires, one that stops leaves at once; a second process with a
 * taken name is refused by name; an unreachable etcd is a status, not a crash, and the node
 * joins once etcd answers. Without PORTICO_CLUSTER nothing changes (cluster: null).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restoreDemo } from "../support/demo";
import { startEtcd, type Etcd } from "../support/etcd";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, startPortico, type PorticoProcess } from "../support/portico";
import { apiClient } from "./monitor-support";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.cluster00001";
let etcd: Etcd;
const nodes: { server: PorticoProcess; dataDir: string }[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  for (const n of nodes) {
    await n.server.stop().catch(() => n.server.kill());
    removeDir(n.dataDir);
  }
  await etcd?.stop();
});

async function startNode(name: string, clusterUrl = etcd.clusterUrl) {
  const dataDir = makeDataDir(`portico-${name}-`);
  const port = await freePort();
  restoreDemo(dataDir, { iqn: IQN, storageObjects: [{ name: `${name}-rd`, plugin: "ramdisk", size: 4 * 1024 * 1024 }], ports: [port] });
  const server = await startPortico({ dataDir, env: { PORTICO_CLUSTER: clusterUrl, PORTICO_NODE: name } });
  await waitForPort(port);
  nodes.push({ server, dataDir });
  return { server, dataDir, port, api: apiClient(server.url, dataDir) };
}

async function until<T>(what: string, f: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await f();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
    v = await f();
  }
  return v;
}

const memberNames = (s: { members: { name: string }[] } | null) => (s?.members ?? []).map((m) => m.name).join(",");

describe("cluster membership on etcd", () => {
  it("two nodes join and see each other, with their portals; the member keys are leased", async () => {
    const a = await startNode("gw-a");
    const b = await startNode("gw-b");
    const sa = await until("gw-a's view", () => a.api.cluster.status.query(), (s) => memberNames(s) === "gw-a,gw-b");
    expect(sa).toMatchObject({ node: "gw-a", connected: true, error: null });
    expect(sa!.members.find((m) => m.name === "gw-a")).toMatchObject({ self: true, portals: [`127.0.0.1:${a.port}`] });
    expect(sa!.members.find((m) => m.name === "gw-b")).toMatchObject({ self: false, portals: [`127.0.0.1:${b.port}`], consoleUrl: expect.stringContaining(String(b.server.httpPort)) });
    await until("gw-b's view", () => b.api.cluster.status.query(), (s) => memberNames(s) === "gw-a,gw-b");
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
    const s = await until("the duplicate's status", () => dup.api.cluster.status.query(), (v) => !!v?.error && v.error !== "connecting");
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
    await until("gw-c joined", () => apiA.cluster.status.query(), (s) => memberNames(s) === "gw-a,gw-b,gw-c");
    const t0 = Date.now();
    c.server.kill();
    await until("gw-c gone", () => apiA.cluster.status.query(), (s) => memberNames(s) === "gw-a,gw-b", 15_000);
    const gone = Date.now() - t0;
    expect(gone).toBeGreaterThan(1_000); // it went by lease expiry (TTL 3 s), not by a goodbye
    const b = nodes.find((n) => n.dataDir.includes("gw-b") && n.server.child.exitCode === null)!;
    const t1 = Date.now();
    await b.server.stop();
    await until("gw-b gone", () => apiA.cluster.status.query(), (s) => memberNames(s) === "gw-a", 5_000);
    expect(Date.now() - t1).toBeLessThan(gone + 1_000);
  });

  it("with etcd unreachable a node serves and says why; it joins once etcd answers", async () => {
    etcd.pause();
    let d: Awaited<ReturnType<typeof startNode>>;
    try {
      d = await startNode("gw-d");
      const s = await until("gw-d's status", () => d.api.cluster.status.query(), (v) => !!v && v.error !== "connecting", 20_000);
      expect(s).toMatchObject({ connected: false, error: expect.stringMatching(/not reachable/) });
      // The node itself works: the API answers, iSCSI listens.
      expect((await d.api.system.status.query()).counts.portalsListening).toBe(1);
    } finally {
      etcd.resume();
    }
    await until("gw-d joined", () => d!.api.cluster.status.query(), (v) => !!v?.connected && memberNames(v).includes("gw-d"), 20_000);
  });

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
