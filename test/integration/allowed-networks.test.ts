/**
 * A TPG's allowed networks against the real appliance and real initiators: a login from
 * outside them is refused with Authorization Failure (RFC 7143 status 0202) and a
 * login_failed event naming the address, and discovery does not list the target; the setting survives a restart and travels in
 * saveconfig.json; widening it lets libiscsi's iscsi-inq in.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemo } from "../support/demo";
import { loginStatus } from "../support/iscsi-client";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, sh, startPortico, stopAndRemove, type PorticoProcess } from "../support/portico";
import { apiClient } from "./monitor-support";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.networks0001";
const INITIATOR = "iqn.2024-01.org.portico.test:networks";
let dataDir: string;
let port: number;
let server: PorticoProcess;
let api: ReturnType<typeof apiClient>;

const login = () => loginStatus(port, { initiatorName: INITIATOR, targetName: IQN });
const discover = () => sh("iscsi-ls", ["-i", INITIATOR, `iscsi://127.0.0.1:${port}`], 30_000);
const inq = () => sh("iscsi-inq", ["-i", INITIATOR, `iscsi://127.0.0.1:${port}/${IQN}/0`], 30_000);

beforeAll(async () => {
  dataDir = makeDataDir("portico-nets-");
  port = await freePort();
  server = await startDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "nets0", plugin: "ramdisk", size: 8 * 1024 * 1024 }], ports: [port] });
  api = apiClient(server.url, dataDir);
});

afterAll(() => stopAndRemove(server, dataDir));

describe("allowed networks", () => {
  it("refuses a bad network at the field and changes nothing", async () => {
    const err = await api.targets.tpgs.setAllowedNetworks.mutate({ wwn: IQN, tag: 1, networks: ["10.0.0.0/8", "10.0.0.0/40"] }).catch((e: { message: string; data?: { field?: string } }) => e);
    expect((err as { message: string }).message).toMatch(/prefix length must be 0 to 32/);
    expect((err as { data?: { field?: string } }).data?.field).toBe("allowedNetworks");
    expect((await api.targets.tpgs.get.query({ wwn: IQN, tag: 1 })).allowedNetworks).toEqual([]);
    expect(inq().status).toBe(0);
  });

  it("a login from outside the allowed networks gets 0202 and an event; the setting survives a restart and is in saveconfig.json", async () => {
    expect(await api.targets.tpgs.setAllowedNetworks.mutate({ wwn: IQN, tag: 1, networks: ["10.9.8.7/8", "fd00::/8"] })).toEqual(["10.0.0.0/8", "fd00::/8"]);
    expect(await login()).toEqual([2, 2]);
    // Discovery does not show a target this address could not log in to.
    const d = discover();
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).not.toContain(IQN);
    const r = inq();
    expect(r.status).not.toBe(0);
    const events = await api.events.list.query({ types: ["login_failed"] });
    const e = events.find((x) => x.initiatorName === INITIATOR);
    expect(e?.reason).toBe("authorization_failed");
    expect(e?.message).toBe(`127.0.0.1 is not in the allowed networks of tpg1 of ${IQN}`);

    const doc = JSON.parse(await api.config.export.query({ secrets: false })) as { targets: { tpgs: { portico_allowed_networks?: string[] }[] }[] };
    expect(doc.targets[0].tpgs[0].portico_allowed_networks).toEqual(["10.0.0.0/8", "fd00::/8"]);

    await server.stop();
    server = await startPortico({ dataDir });
    await waitForPort(port);
    api = apiClient(server.url, dataDir);
    expect((await api.targets.tpgs.get.query({ wwn: IQN, tag: 1 })).allowedNetworks).toEqual(["10.0.0.0/8", "fd00::/8"]);
    expect(await login()).toEqual([2, 2]);
  });

  it("widening the networks lets the initiator in", async () => {
    await api.targets.tpgs.setAllowedNetworks.mutate({ wwn: IQN, tag: 1, networks: ["10.0.0.0/8", "127.0.0.0/8"] });
    expect(await login()).toEqual([0, 0]);
    const r = inq();
    expect(r.status, r.stderr).toBe(0);
    expect(discover().stdout).toContain(IQN);
    await api.targets.tpgs.setAllowedNetworks.mutate({ wwn: IQN, tag: 1, networks: [] });
    expect(await login()).toEqual([0, 0]);
  });
});
