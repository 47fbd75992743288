/**
 * The configuration most tests and benchmarks start from: one target whose tpg1 is in
 * demo mode (any initiator, LUNs writable) with the given storage objects as LUNs 0..n
 * and portals on 127.0.0.1, written as targetcli's saveconfig.json and restored with
 * `portico restoreconfig`, as an admin would.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { portico, startPortico, type PorticoProcess } from "./portico";
import { waitForPort } from "./ports";

/** A saveconfig.json storage object: name and plugin, plus any fields (size, dev, wwn, attributes…). */
export interface DemoStorageObject {
  name: string;
  /** "user" is a tcmu user:rbd object (`config` = rbd/<pool>/<image>;conf=...), as ceph-iscsi writes it. */
  plugin: "ramdisk" | "fileio" | "block" | "user";
  [field: string]: unknown;
}

export interface DemoTarget {
  iqn: string;
  storageObjects: DemoStorageObject[];
  /** iSCSI ports on 127.0.0.1 (two give the multipath tests a second path). */
  ports: number[];
  /** Storage objects configured but not exported as LUNs. */
  unexported?: DemoStorageObject[];
  /** TPG attributes on top of demo mode's (authentication 0, generate_node_acls 1, demo_mode_write_protect 0). */
  tpgAttributes?: Record<string, number>;
  /** TPG parameters (login keys, e.g. MaxRecvDataSegmentLength) on top of LIO's defaults. */
  tpgParameters?: Record<string, string>;
}

export function demoSaveconfig(t: DemoTarget): object {
  return {
    storage_objects: [...t.storageObjects, ...(t.unexported ?? [])],
    targets: [
      {
        fabric: "iscsi",
        wwn: t.iqn,
        tpgs: [
          {
            tag: 1,
            enable: true,
            attributes: { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0, ...t.tpgAttributes },
            ...(t.tpgParameters ? { parameters: t.tpgParameters } : {}),
            luns: t.storageObjects.map((so, index) => ({ index, storage_object: `/backstores/${so.plugin === "user" ? "user:rbd" : so.plugin}/${so.name}` })),
            portals: t.ports.map((port) => ({ ip_address: "127.0.0.1", port })),
            node_acls: [],
          },
        ],
      },
    ],
  };
}

/** Writes the demo configuration into `dataDir` and restores it; throws with the CLI's output if that fails. */
export function restoreDemo(dataDir: string, t: DemoTarget): void {
  const file = path.join(dataDir, "demo-saveconfig.json");
  writeFileSync(file, JSON.stringify(demoSaveconfig(t), null, 2));
  const r = portico(dataDir, ["restoreconfig", file]);
  if (r.status !== 0) throw new Error(`portico restoreconfig failed (${r.status}): ${r.stderr}${r.stdout}`);
}

/**
 * The start most integration tests share: the demo configuration restored into `dataDir`, the
 * appliance started on it, and every portal of the target accepting connections.
 */
export async function startDemo(dataDir: string, t: DemoTarget, opts: { env?: Record<string, string> } = {}): Promise<PorticoProcess> {
  restoreDemo(dataDir, t);
  const server = await startPortico({ dataDir, env: opts.env });
  try {
    for (const port of t.ports) await waitForPort(port);
  } catch (err) {
    server.kill();
    throw err;
  }
  return server;
}
