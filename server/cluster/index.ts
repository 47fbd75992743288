/**
 * The running node's cluster membership, for the API and the CLI's status. Undefined on a
 * single appliance (no PORTICO_CLUSTER).
 */
import type { ClusterMembership } from "./membership";
import type { ConfigSync } from "./config-sync";

const CLUSTER = Symbol.for("portico.cluster");
const CONFIG_SYNC = Symbol.for("portico.cluster.configSync");
type Registry = { [CLUSTER]?: ClusterMembership; [CONFIG_SYNC]?: ConfigSync };

export function setCluster(m: ClusterMembership | undefined): void {
  (globalThis as Registry)[CLUSTER] = m;
}

export function getCluster(): ClusterMembership | undefined {
  return (globalThis as Registry)[CLUSTER];
}

/** The cluster configuration's replication (server/cluster/config-sync.ts); undefined on a single appliance. */
export function setConfigSync(s: ConfigSync | undefined): void {
  (globalThis as Registry)[CONFIG_SYNC] = s;
}

export function getConfigSync(): ConfigSync | undefined {
  return (globalThis as Registry)[CONFIG_SYNC];
}
