/**
 * Configuration you can trust, against the real appliance process:
 * CHAP (one-way, mutual, wrong secret, discovery auth) with libiscsi's real logins,
 * ACL masking as iscsi-ls and REPORT LUNS see it, and live reconfiguration (unit
 * attentions, portals, ending sessions) seen by a logged-in initiator.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createTRPCClient, httpLink } from "@trpc/client";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppRouter } from "@/server/api/root";
import { readRuntime, runtimeUrl, TOKEN_HEADER } from "@/server/runtime";
import { IscsiClient } from "../support/iscsi-client";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.config0001";
const ALPHA = "iqn.1994-05.com.redhat:alpha";
const BETA = "iqn.1994-05.com.redhat:beta";
const GAMMA = "iqn.1994-05.com.redhat:gamma";
const ALPHA_SECRET = "alphaSecret-0123";
const BETA_SECRET = "betaSecret-4567";
const BETA_MUTUAL = "targetSecret-89ab";
const MiB = 1024 * 1024;

let dataDir: string;
let iscsiPort: number;
let server: PorticoProcess | undefined;
let api: ReturnType<typeof createTRPCClient<AppRouter>>;

function saveconfig(): object {
  const ram = (name: string, wwn: string) => ({ name, plugin: "ramdisk", size: 16 * MiB, wwn, attributes: { block_size: 512 } });
  return {
    fabric_modules: [],
    storage_objects: [ram("r0", "11111111-2222-4333-8444-555555555500"), ram("r1", "11111111-2222-4333-8444-555555555501"), ram("r2", "11111111-2222-4333-8444-555555555502")],
    targets: [
      {
        fabric: "iscsi",
        wwn: IQN,
        tpgs: [
          {
            tag: 1,
            enable: true,
            attributes: { authentication: 1, generate_node_acls: 0 },
            parameters: { AuthMethod: "CHAP" },
            luns: [
              { index: 0, storage_object: "/backstores/ramdisk/r0", alias: "a000000000" },
              { index: 1, storage_object: "/backstores/ramdisk/r1", alias: "a000000001" },
            ],
            portals: [{ ip_address: "127.0.0.1", port: iscsiPort, iser: false, offload: false }],
            node_acls: [
              {
                node_wwn: ALPHA,
                chap_userid: "alpha",
                chap_password: ALPHA_SECRET,
                mapped_luns: [{ index: 0, tpg_lun: 1, write_protect: false, alias: "m000000000" }],
              },
              {
                node_wwn: BETA,
                chap_userid: "beta",
                chap_password: BETA_SECRET,
                chap_mutual_userid: "target",
                chap_mutual_password: BETA_MUTUAL,
                mapped_luns: [
                  { index: 0, tpg_lun: 0, write_protect: false, alias: "m000000001" },
                  { index: 3, tpg_lun: 1, write_protect: true, alias: "m000000002" },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
}

const url = (user: string, secret: string, lun?: number, query = "") =>
  `iscsi://${user}%${secret}@127.0.0.1:${iscsiPort}${lun === undefined ? "" : `/${IQN}/${lun}`}${query}`;

function luns(stdout: string): number[] {
  return [...stdout.matchAll(/Lun:(\d+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
}

beforeAll(async () => {
  dataDir = makeDataDir("portico-config-it-");
  iscsiPort = await freePort();
  const file = path.join(dataDir, "saveconfig.json");
  writeFileSync(file, JSON.stringify(saveconfig(), null, 2));
  const r = portico(dataDir, ["restoreconfig", file]);
  expect(r.status, r.stderr + r.stdout).toBe(0);
  expect(r.stderr).not.toContain("chap");
  server = await startPortico({ dataDir });
  await waitForPort(iscsiPort);
  const info = readRuntime(dataDir)!;
  api = createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${runtimeUrl(info)}/api/trpc`, transformer: superjson, headers: { [TOKEN_HEADER]: info.token } })],
  });
});

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

describe("CHAP with libiscsi", () => {
  it("one-way CHAP: the right secret logs in and sees only its mapped LUN (iscsi-ls -s)", () => {
    const r = sh("iscsi-ls", ["-s", "-i", ALPHA, url("alpha", ALPHA_SECRET)]);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain(IQN);
    expect(luns(r.stdout)).toEqual([0]);
  });

  it("a wrong secret, a wrong user and no credentials are refused", () => {
    for (const u of [url("alpha", "wrongSecret-000", 0), url("nobody", ALPHA_SECRET, 0), `iscsi://127.0.0.1:${iscsiPort}/${IQN}/0`]) {
      const r = sh("iscsi-inq", ["-i", ALPHA, u]);
      expect(r.status, `${u}: ${r.stdout}`).not.toBe(0);
      expect(r.stdout + r.stderr).not.toMatch(/LIO-ORG/);
    }
  });

  it("mutual CHAP: the target proves itself with its own secret (target_user / target_password)", () => {
    const ok = sh("iscsi-inq", ["-i", BETA, url("beta", BETA_SECRET, 3, `?target_user=target&target_password=${BETA_MUTUAL}`)]);
    expect(ok.status, ok.stderr + ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/LIO-ORG/);
    // The initiator refuses a target that answers with another secret.
    const bad = sh("iscsi-inq", ["-i", BETA, url("beta", BETA_SECRET, 3, "?target_user=target&target_password=notTheSecret-1")]);
    expect(bad.status).not.toBe(0);
  });

  it("an initiator without a node ACL is refused even with valid credentials (ACL masking at login and SendTargets)", () => {
    const r = sh("iscsi-ls", ["-s", "-i", GAMMA, url("alpha", ALPHA_SECRET)]);
    expect(r.stdout).not.toContain(IQN);
  });

  it("discovery authentication: enabled through the API, SendTargets needs the discovery secret", async () => {
    await api.config.setDiscoveryAuth.mutate({ enabled: true, chap: { userid: "disc", password: "discSecret123" } });
    const ok = sh("iscsi-ls", ["-i", ALPHA, url("disc", "discSecret123")]);
    expect(ok.status, ok.stderr + ok.stdout).toBe(0);
    expect(ok.stdout).toContain(IQN);
    const bad = sh("iscsi-ls", ["-i", ALPHA, url("disc", "wrongSecret-000")]);
    expect(bad.stdout).not.toContain(IQN);
    await api.config.setDiscoveryAuth.mutate({ enabled: false, chap: {} });
    const open = sh("iscsi-ls", ["-i", ALPHA, `iscsi://127.0.0.1:${iscsiPort}`]);
    expect(open.stdout).toContain(IQN);
  });
});

describe("live reconfiguration seen by a logged-in initiator", () => {
  async function loginBeta(): Promise<IscsiClient> {
    const c = await IscsiClient.connect(iscsiPort);
    const r = await c.login({ targetName: IQN, initiatorName: BETA, chap: { user: "beta", secret: BETA_SECRET, mutual: { user: "target", secret: BETA_MUTUAL } } });
    expect(r.statusClass).toBe(0);
    return c;
  }
  const tur = (c: IscsiClient, lun: number) => c.command(Buffer.from([0, 0, 0, 0, 0, 0]), { lun });
  const ascOf = (r: { status: number; sense?: Buffer }) => (r.sense ? [r.sense[2] & 0x0f, r.sense[12], r.sense[13]] : [r.status]);
  async function drain(c: IscsiClient, lun: number): Promise<void> {
    for (let i = 0; i < 10 && (await tur(c, lun)).status !== 0; i++);
  }
  async function reportLuns(c: IscsiClient): Promise<number[]> {
    const r = await c.command(Buffer.from([0xa0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]), { readLength: 4096 });
    expect(r.status).toBe(0);
    const out: number[] = [];
    for (let o = 8; o < 8 + r.data.readUInt32BE(0); o += 8) out.push(r.data.readUInt16BE(o) & 0x3fff);
    return out;
  }

  it("REPORT LUNS shows the ACL's own numbering; mapped LUN write_protect gives DATA PROTECT", async () => {
    const c = await loginBeta();
    try {
      expect(await reportLuns(c)).toEqual([0, 3]);
      await drain(c, 3);
      const w = await c.command(Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0]), { lun: 3, write: Buffer.alloc(512) });
      expect(ascOf(w)).toEqual([0x07, 0x27, 0x00]);
    } finally {
      c.close();
    }
  });

  it("adding and removing a mapped LUN raises 3Fh/0Eh; growing a LUN raises 2Ah/09h; IO on other LUNs goes on", async () => {
    const c = await loginBeta();
    try {
      await drain(c, 0);
      await api.targets.mappedLuns.create.mutate({ wwn: IQN, tag: 1, initiatorName: BETA, index: 5, tpgLun: 1 });
      expect(ascOf(await tur(c, 0))).toEqual([0x06, 0x3f, 0x0e]);
      expect(await reportLuns(c)).toEqual([0, 3, 5]);
      await api.targets.mappedLuns.delete.mutate({ wwn: IQN, tag: 1, initiatorName: BETA, index: 5 });
      expect(ascOf(await tur(c, 0))).toEqual([0x06, 0x3f, 0x0e]);
      expect(await reportLuns(c)).toEqual([0, 3]);

      await api.storage.resize.mutate({ plugin: "ramdisk", name: "r0", size: 32 * MiB });
      expect(ascOf(await tur(c, 0))).toEqual([0x06, 0x2a, 0x09]);
      const cap = await c.command(Buffer.from([0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]), { lun: 0, readLength: 32 });
      expect(Number(cap.data.readBigUInt64BE(0)) + 1).toBe((32 * MiB) / 512);
      await expect(api.storage.resize.mutate({ plugin: "ramdisk", name: "r0", size: 8 * MiB })).rejects.toThrow(/cannot shrink/);
      await expect(api.storage.delete.mutate({ plugin: "ramdisk", name: "r0" })).rejects.toThrow(`exported by ${IQN} tpg1 lun0`);
      await expect(api.storage.setAttributes.mutate({ plugin: "ramdisk", name: "r0", attributes: { emulate_tas: 0 } })).rejects.toThrow(`${IQN} tpg1 lun0`);

      // A new TPG LUN (auto_add_mapped_luns) lands in every ACL and raises the UA too.
      const lun = await api.targets.luns.create.mutate({ wwn: IQN, tag: 1, storageObject: "r2", index: 2 });
      expect(lun.mapped.map((m) => m.initiatorName).sort()).toEqual([ALPHA, BETA]);
      expect(ascOf(await tur(c, 0))).toEqual([0x06, 0x3f, 0x0e]);
      expect(await reportLuns(c)).toEqual([0, 2, 3]);
      expect((await tur(c, 0)).status).toBe(0);
    } finally {
      c.close();
    }
  });

  it("removing the node ACL ends the session; disabling the TPG refuses logins; portals open and close", async () => {
    const c = await loginBeta();
    await drain(c, 0);
    await api.targets.acls.delete.mutate({ wwn: IQN, tag: 1, initiatorName: BETA });
    expect(await c.closesWithin(5000)).toBe(true);
    c.close();

    // A second portal opens a listener; an address in use is refused and leaves nothing behind.
    const extra = await freePort();
    await api.targets.portals.create.mutate({ wwn: IQN, tag: 1, ip: "127.0.0.1", port: extra });
    await waitForPort(extra);
    const r = sh("iscsi-ls", ["-i", ALPHA, url("alpha", ALPHA_SECRET).replace(String(iscsiPort), String(extra))]);
    expect(r.stdout).toContain(IQN);
    const httpPort = server!.httpPort;
    await expect(api.targets.portals.create.mutate({ wwn: IQN, tag: 1, ip: "127.0.0.1", port: httpPort })).rejects.toThrow(/in use/);
    const tree = await api.targets.list.query();
    expect(tree[0].tpgs[0].portals.map((p) => p.port).sort()).toEqual([iscsiPort, extra].sort());
    await api.targets.portals.delete.mutate({ wwn: IQN, tag: 1, ip: "127.0.0.1", port: extra });
    await expect(waitForPort(extra, "127.0.0.1", 1000)).rejects.toThrow();

    await api.targets.tpgs.setEnabled.mutate({ wwn: IQN, tag: 1, enabled: false });
    const off = sh("iscsi-inq", ["-i", ALPHA, url("alpha", ALPHA_SECRET, 0)]);
    expect(off.status).not.toBe(0);
    await api.targets.tpgs.setEnabled.mutate({ wwn: IQN, tag: 1, enabled: true });
    const on = sh("iscsi-inq", ["-i", ALPHA, url("alpha", ALPHA_SECRET, 0)]);
    expect(on.status, on.stderr).toBe(0);
  });
});
