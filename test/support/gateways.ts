/**
 * Cluster members as processes for the integration tests: a saveconfig restored into a fresh data
 * directory and started with PORTICO_CLUSTER/PORTICO_NODE (startMember); and the two gateways of
 * the RBD tests (support/cluster.ts's saveconfig), started and restarted after a kill, each with an
 * API client.
 */
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { apiClient } from "./api";
import { twoGatewayRbdSaveconfig, type TwoGatewayRbd } from "./cluster";
import { freePort, waitForPort } from "./ports";
import { makeDataDir, portico, removeDir, startPortico, type PorticoProcess } from "./portico";

export type GatewayName = "gw-a" | "gw-b";

export interface Gateway {
  name: GatewayName;
  dataDir: string;
  /** Its TPG's iSCSI port on 127.0.0.1, and the TPG's tag. */
  port: number;
  tag: number;
  server?: PorticoProcess;
  api?: ReturnType<typeof apiClient>;
}

/** A fresh data directory (`<prefix>…`) with `saveconfig` restored into it by the CLI. */
export function restoredDataDir(prefix: string, saveconfig: object): string {
  const dataDir = makeDataDir(prefix);
  // Not cluster.json: that name in a data directory is a join saved by the Cluster page.
  const file = path.join(dataDir, "saveconfig.json");
  writeFileSync(file, JSON.stringify(saveconfig, null, 2));
  const r = portico(dataDir, ["restoreconfig", file]);
  expect(r.status, r.stderr + r.stdout).toBe(0);
  return dataDir;
}

/** Restores the two-gateway saveconfig into a fresh data directory for each gateway (`portico-<name><suffix>-…`), on free ports. */
export async function restoreTwoGateways(c: Omit<TwoGatewayRbd, "ports">, dirSuffix = ""): Promise<Record<GatewayName, Gateway>> {
  const ports: [number, number] = [await freePort(), await freePort()];
  const out: Partial<Record<GatewayName, Gateway>> = {};
  for (const [i, name] of (["gw-a", "gw-b"] as const).entries()) {
    const dataDir = restoredDataDir(`portico-${name}${dirSuffix}-`, twoGatewayRbdSaveconfig({ ...c, ports }));
    out[name] = { name, dataDir, port: ports[i]!, tag: i + 1 };
  }
  return out as Record<GatewayName, Gateway>;
}

/**
 * A cluster member `name` restored from `saveconfig` into a fresh data directory and started with
 * PORTICO_CLUSTER and PORTICO_NODE, once its portal (`port`, its TPG's) listens. The caller stops
 * it and removes the directory; if it does not start, the directory is removed here.
 */
export async function startMember(o: { name: string; saveconfig: object; clusterUrl: string; port: number; dirPrefix?: string }): Promise<{ server: PorticoProcess; dataDir: string }> {
  const dataDir = restoredDataDir(o.dirPrefix ?? `portico-${o.name}-`, o.saveconfig);
  let server: PorticoProcess | undefined;
  try {
    server = await startPortico({ dataDir, env: { PORTICO_CLUSTER: o.clusterUrl, PORTICO_NODE: o.name } });
    await waitForPort(o.port);
    return { server, dataDir };
  } catch (err) {
    await server?.stop().catch(() => server?.kill());
    removeDir(dataDir);
    throw err;
  }
}

/** Starts the gateway as a member of the cluster at `clusterUrl` (again, after a kill) and waits for its portal. */
export async function startGateway(n: Gateway, clusterUrl: string): Promise<void> {
  // After a kill -9 the old process's runtime file is still there: the new one's token is what counts.
  const old = n.server?.child;
  if (old && old.exitCode === null && old.signalCode === null) await new Promise((r) => old.once("exit", r));
  rmSync(path.join(n.dataDir, "portico.runtime.json"), { force: true });
  n.server = await startPortico({ dataDir: n.dataDir, env: { PORTICO_CLUSTER: clusterUrl, PORTICO_NODE: n.name } });
  await waitForPort(n.port);
  n.api = apiClient(n.server.url, n.dataDir);
}
