/**
 * APTPL (SPC-4 §5.12.5): registrations and the reservation made with APTPL=1 survive a
 * restart (SIGTERM, start again from the same data directory), for a storage object
 * restored from the configuration and for one created through the API after start-up.
 * Without APTPL they do not. Driven with PERSISTENT RESERVE OUT/IN through our iSCSI client.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createTRPCClient, httpLink } from "@trpc/client";
import superjson from "superjson";
import { afterAll, describe, expect, it } from "vitest";
import type { AppRouter } from "@/server/api/root";
import { readRuntime, runtimeUrl, TOKEN_HEADER } from "@/server/runtime";
import { IscsiClient } from "../support/iscsi-client";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, startPortico, type PorticoProcess } from "../support/portico";
import { prInCdb, prOutCommand } from "../support/pr";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.aptpl";
const INITIATOR = "iqn.1994-05.com.example:aptpl-host";
const KEY = 0x1122334455667788n;
const MiB = 1024 * 1024;

let dataDir: string | undefined;
let server: PorticoProcess | undefined;

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  if (dataDir) removeDir(dataDir);
});

async function connect(port: number): Promise<IscsiClient> {
  const c = await IscsiClient.connect(port);
  const r = await c.login({ initiatorName: INITIATOR, targetName: IQN });
  expect(r.statusClass).toBe(0);
  return c;
}

/** TEST UNIT READY until GOOD: consumes the 29h/00h POWER ON unit attention of a new nexus. */
async function settle(c: IscsiClient, lun: number): Promise<void> {
  for (let i = 0; i < 5; i++) if ((await c.command(Buffer.alloc(6), { lun })).status === 0) return;
  throw new Error("TEST UNIT READY never GOOD");
}

async function readKeys(c: IscsiClient, lun: number): Promise<bigint[]> {
  const r = await c.command(prInCdb(0x00), { lun, readLength: 1024 });
  expect(r.status).toBe(0);
  const n = r.data.readUInt32BE(4) / 8;
  return Array.from({ length: n }, (_, i) => r.data.readBigUInt64BE(8 + i * 8));
}

async function readReservation(c: IscsiClient, lun: number): Promise<{ key: bigint; type: number } | undefined> {
  const r = await c.command(prInCdb(0x01), { lun, readLength: 1024 });
  expect(r.status).toBe(0);
  if (r.data.readUInt32BE(4) === 0) return undefined;
  return { key: r.data.readBigUInt64BE(8), type: r.data[21] & 0x0f };
}

async function registerAndReserve(c: IscsiClient, lun: number, aptpl: boolean): Promise<void> {
  const [reg, regData] = prOutCommand(0x00, 0, 0n, KEY, aptpl); // REGISTER
  expect((await c.command(reg, { lun, write: regData })).status).toBe(0);
  const [res, resData] = prOutCommand(0x01, 0x01, KEY, 0n, false); // RESERVE, WRITE EXCLUSIVE
  expect((await c.command(res, { lun, write: resData })).status).toBe(0);
}

describe("APTPL persistence", () => {
  it("keeps APTPL registrations and the reservation across a restart; drops those without APTPL", async () => {
    dataDir = makeDataDir("portico-aptpl-it-");
    const port = await freePort();
    const cfg = {
      storage_objects: [
        { name: "keep", plugin: "ramdisk", size: 8 * MiB },
        { name: "volatile", plugin: "ramdisk", size: 8 * MiB },
      ],
      targets: [
        {
          fabric: "iscsi",
          wwn: IQN,
          tpgs: [
            {
              tag: 1,
              enable: true,
              attributes: { authentication: 0, generate_node_acls: 1, demo_mode_write_protect: 0 },
              luns: [
                { index: 0, storage_object: "/backstores/ramdisk/keep" },
                { index: 1, storage_object: "/backstores/ramdisk/volatile" },
              ],
              portals: [{ ip_address: "127.0.0.1", port }],
              node_acls: [],
            },
          ],
        },
      ],
    };
    writeFileSync(path.join(dataDir, "cfg.json"), JSON.stringify(cfg));
    expect(portico(dataDir, ["restoreconfig", path.join(dataDir, "cfg.json")]).status).toBe(0);

    server = await startPortico({ dataDir });
    await waitForPort(port);
    // A storage object created after start-up gets persistence too.
    const info = readRuntime(dataDir)!;
    const api = createTRPCClient<AppRouter>({
      links: [httpLink({ url: `${runtimeUrl(info)}/api/trpc`, transformer: superjson, headers: { [TOKEN_HEADER]: info.token } })],
    });
    await api.storage.create.mutate({ plugin: "ramdisk", name: "later", size: 8 * MiB });
    await api.targets.luns.create.mutate({ wwn: IQN, tag: 1, storageObject: "later", index: 2 });

    let c = await connect(port);
    for (const lun of [0, 1, 2]) await settle(c, lun);
    await registerAndReserve(c, 0, true);
    await registerAndReserve(c, 1, false);
    await registerAndReserve(c, 2, true);
    expect(await readKeys(c, 0)).toEqual([KEY]);
    await c.logout().catch(() => undefined);

    expect(await server.stop()).toBe(0);
    server = await startPortico({ dataDir });
    await waitForPort(port);

    c = await connect(port);
    for (const lun of [0, 1, 2]) await settle(c, lun);
    for (const lun of [0, 2]) {
      expect(await readKeys(c, lun)).toEqual([KEY]);
      expect(await readReservation(c, lun)).toEqual({ key: KEY, type: 0x01 });
    }
    expect(await readKeys(c, 1)).toEqual([]);
    expect(await readReservation(c, 1)).toBeUndefined();

    // The reservation holder still is this I_T nexus: it may release, and unregistering
    // with APTPL (REGISTER with key 0) leaves nothing to restore.
    const [rel, relData] = prOutCommand(0x02, 0x01, KEY, 0n, false);
    expect((await c.command(rel, { lun: 0, write: relData })).status).toBe(0);
    const [unreg, unregData] = prOutCommand(0x00, 0, KEY, 0n, true);
    expect((await c.command(unreg, { lun: 0, write: unregData })).status).toBe(0);
    await c.logout().catch(() => undefined);

    expect(await server.stop()).toBe(0);
    server = await startPortico({ dataDir });
    await waitForPort(port);
    c = await connect(port);
    for (const lun of [0, 2]) await settle(c, lun);
    expect(await readKeys(c, 0)).toEqual([]);
    expect(await readKeys(c, 2)).toEqual([KEY]);
    await c.logout().catch(() => undefined);
  });
});
