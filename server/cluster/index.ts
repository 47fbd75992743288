/**
 * The running node's cluster membership, for the API and the CLI's status. Undefined on a
 * single appliance (no PORTICO_CLUSTER).
 */
import type { ClusterMembership } from "./membership";
import type { ConfigSync } from "./config-sync";
import { processSlot } from "../process-slot";

const cluster = processSlot<ClusterMembership>("portico.cluster");
const configSync = processSlot<ConfigSync>("portico.cluster.configSync");

export function setCluster(m: ClusterMembership | undefined): void {
  cluster.set(m);
}

export function getCluster(): ClusterMembership | undefined {
  return cluster.get();
}

/** The cluster configuration's replication (server/cluster/config-sync.ts); undefined on a single appliance. */
export function setConfigSync(s: ConfigSync | undefined): void {
  configSync.set(s);
}

export function getConfigSync(): ConfigSync | undefined {
  return configSync.get();
}
