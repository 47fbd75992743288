/**
 * Cluster settings from the environment: PORTICO_CLUSTER=etcd://host:port[,host:port...]
 * and PORTICO_NODE=<name> (default: the host name). Without PORTICO_CLUSTER the appliance
 * is a single node exactly as before. Pure: parse and validate, with messages an admin can act on.
 */
import os from "node:os";
import { normalizeNodeName } from "../engine/core/names";
import { parseEndpoints } from "./endpoints";

export interface ClusterSettings {
  /** etcd client URLs, `http://host:port`. */
  endpoints: string[];
  /** This node's name: the key it registers under and the TPG `node` it serves. */
  node: string;
}

export class ClusterSettingsError extends Error {}

/** A node name: a DNS label (1–63 of a-z, 0-9, '-', not starting or ending with '-'), lowercased. */
export function validateNodeName(raw: string): string {
  try {
    return normalizeNodeName(raw);
  } catch (err) {
    throw new ClusterSettingsError(`PORTICO_NODE: ${(err as Error).message}`);
  }
}

/** `etcd://h1:p1,h2:p2` (or `http://…`) → the etcd client URLs. */
export function parseClusterUrl(raw: string): string[] {
  const r = parseEndpoints(raw);
  if ("reason" in r) throw new ClusterSettingsError(`PORTICO_CLUSTER=${raw}: ${r.reason}`);
  return r.endpoints;
}

export function readClusterSettings(env: Record<string, string | undefined> = process.env): ClusterSettings | undefined {
  const url = env.PORTICO_CLUSTER?.trim();
  if (!url) return undefined;
  const host = os.hostname().split(".")[0] ?? "node";
  return { endpoints: parseClusterUrl(url), node: validateNodeName(env.PORTICO_NODE?.trim() || host) };
}
