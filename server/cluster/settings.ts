/**
 * Cluster settings from the environment: PORTICO_CLUSTER=etcd://host:port[,host:port...]
 * and PORTICO_NODE=<name> (default: the host name). Without PORTICO_CLUSTER the appliance
 * is a single node exactly as before. Pure: parse and validate, with messages an admin can act on.
 */
import os from "node:os";
import { normalizeNodeName } from "../engine/core/names";

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
  const text = raw.trim();
  const m = /^(etcd|http):\/\/(.+)$/.exec(text);
  if (!m) throw new ClusterSettingsError(`PORTICO_CLUSTER=${raw}: expected etcd://host:port[,host:port...]`);
  const endpoints = m[2]!.split(",").map((hp) => {
    const h = hp.trim().replace(/\/+$/, "");
    const mm = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(h);
    const port = mm ? Number(mm[2]) : NaN;
    if (!mm || port < 1 || port > 65535) throw new ClusterSettingsError(`PORTICO_CLUSTER=${raw}: "${hp}" is not host:port`);
    return `http://${mm[1]}:${port}`;
  });
  return [...new Set(endpoints)];
}

export function readClusterSettings(env: Record<string, string | undefined> = process.env): ClusterSettings | undefined {
  const url = env.PORTICO_CLUSTER?.trim();
  if (!url) return undefined;
  const host = os.hostname().split(".")[0] ?? "node";
  return { endpoints: parseClusterUrl(url), node: validateNodeName(env.PORTICO_NODE?.trim() || host) };
}
