/**
 * The running node's cluster membership, for the API and the CLI's status. Undefined on a
 * single appliance (no PORTICO_CLUSTER).
 */
import type { ClusterMembership } from "./membership";

const CLUSTER = Symbol.for("portico.cluster");
type Registry = { [CLUSTER]?: ClusterMembership };

export function setCluster(m: ClusterMembership | undefined): void {
  (globalThis as Registry)[CLUSTER] = m;
}

export function getCluster(): ClusterMembership | undefined {
  return (globalThis as Registry)[CLUSTER];
}
