/**
 * The connection instructions the console shows, followed with real initiators: for each
 * access mode (demo mode, ACL without CHAP, ACL with CHAP, mutual CHAP) the instructions
 * come from the API of the real appliance and their libiscsi commands (iscsi-ls,
 * iscsi-inq) and QEMU command (qemu-img info) are run as shown. Each must reach the disk;
 * leaving out what the instructions add (the initiator name, the secret) must not.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, type PorticoProcess } from "../support/portico";
import { apiClient } from "./monitor-support";

const PREFIX = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.instr";
const DEMO = `${PREFIX}demo`;
const ACL = `${PREFIX}acl`;
const CHAP = `${PREFIX}chap`;
const MUTUAL = `${PREFIX}mutual`;
const HOST = "iqn.2024-01.org.portico.test:instructions";
const SIZE = 8 * 1024 * 1024;

let dataDir: string;
let port: number;
let server: PorticoProcess;
let api: ReturnType<typeof apiClient>;

function tpg(lunObject: string, attributes: Record<string, number>, nodeAcls: object[]) {
  return {
    tag: 1,
    enable: true,
    attributes: { demo_mode_write_protect: 0, ...attributes },
    luns: [{ index: 0, storage_object: `/backstores/ramdisk/${lunObject}` }],
    portals: [{ ip_address: "127.0.0.1", port }],
    node_acls: nodeAcls,
  };
}

function hostAcl(chap: Record<string, string> = {}) {
  return { node_wwn: HOST, ...chap, mapped_luns: [{ index: 0, tpg_lun: 0, write_protect: false }] };
}

/** Runs one shown command line in a shell, as an admin pasting it would. */
function run(line: string) {
  return sh("bash", ["-c", line], 60_000);
}

/** The instructions' command lines (comments and blank lines left out). */
function lines(block: string): string[] {
  return block.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
}

async function instructionsFor(wwn: string) {
  const r = await api.targets.instructions.query({ wwn, tag: 1, reveal: true });
  expect(r.initiators).toHaveLength(1);
  return { all: r, i: r.initiators[0] };
}

/** Follows the libiscsi and QEMU instructions; every command must succeed and find the disk. */
function follow(i: { libiscsi: string; qemu: string }, wwn: string) {
  const [ls, inq] = lines(i.libiscsi);
  expect(ls).toMatch(/^(LIBISCSI_\S+ )*iscsi-ls /);
  const l = run(ls);
  expect(l.status, l.stderr + l.stdout).toBe(0);
  expect(l.stdout).toContain(`Target:${wwn}`);
  expect(inq).toMatch(/^(LIBISCSI_\S+ )*iscsi-inq /);
  const q = run(inq);
  expect(q.status, q.stderr + q.stdout).toBe(0);
  expect(q.stdout).toContain("Peripheral Device Type:DIRECT_ACCESS");
  const img = lines(i.qemu)[0];
  expect(img).toMatch(/^qemu-img info /);
  const r = run(img);
  expect(r.status, r.stderr + r.stdout).toBe(0);
  expect(r.stdout).toContain(`virtual size: 8 MiB (${SIZE} bytes)`);
  return { ls, inq, img };
}

beforeAll(async () => {
  dataDir = makeDataDir("portico-instr-");
  port = await freePort();
  const config = {
    storage_objects: ["d", "a", "c", "m"].map((n) => ({ name: `instr${n}`, plugin: "ramdisk", size: SIZE })),
    targets: [
      { fabric: "iscsi", wwn: DEMO, tpgs: [tpg("instrd", { generate_node_acls: 1, authentication: 0 }, [])] },
      { fabric: "iscsi", wwn: ACL, tpgs: [tpg("instra", { generate_node_acls: 0, authentication: 0 }, [hostAcl()])] },
      { fabric: "iscsi", wwn: CHAP, tpgs: [tpg("instrc", { generate_node_acls: 0, authentication: 1 }, [hostAcl({ chap_userid: "alice", chap_password: "alicesecret12" })])] },
      {
        fabric: "iscsi",
        wwn: MUTUAL,
        tpgs: [
          tpg("instrm", { generate_node_acls: 0, authentication: 1 }, [
            hostAcl({ chap_userid: "bob", chap_password: "bobsecret1234", chap_mutual_userid: "portico", chap_mutual_password: "targetsecret12" }),
          ]),
        ],
      },
    ],
  };
  const file = path.join(dataDir, "instructions-saveconfig.json");
  writeFileSync(file, JSON.stringify(config));
  const restored = portico(dataDir, ["restoreconfig", file]);
  if (restored.status !== 0) throw new Error(restored.stderr + restored.stdout);
  server = await startPortico({ dataDir });
  await waitForPort(port);
  api = apiClient(server.url, dataDir);
});

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

describe("connection instructions, followed with libiscsi and QEMU", () => {
  it("demo mode: any initiator name, no CHAP", async () => {
    const { all, i } = await instructionsFor(DEMO);
    expect([all.access, all.chapRequired, all.warnings, i.initiatorName, i.chap]).toEqual(["demo", false, [], null, null]);
    const { inq } = follow(i, DEMO);
    expect(inq).toBe(`iscsi-inq iscsi://127.0.0.1:${port}/${DEMO}/0`);
  });

  it("ACL without CHAP: the initiator name shown is the one that gets in", async () => {
    const { all, i } = await instructionsFor(ACL);
    expect([all.access, all.allowedInitiators, i.initiatorName, i.chap]).toEqual(["acl", [HOST], HOST, null]);
    expect(i.linux).toContain(`echo 'InitiatorName=${HOST}' | sudo tee /etc/iscsi/initiatorname.iscsi`);
    const { inq, img } = follow(i, ACL);
    expect(inq).toContain(` -i ${HOST} `);
    expect(img).toContain(`initiator-name=${HOST}`);
    // Without the name the instructions set, libiscsi's default name is refused (no ACL).
    const anonymous = run(inq.replace(` -i ${HOST}`, ""));
    expect(anonymous.status).not.toBe(0);
    expect(anonymous.stderr + anonymous.stdout).toMatch(/Authorization failure|not authorized|0x0202|514/i);
  });

  it("ACL with CHAP: the URL carries user%secret; masked unless revealed; a wrong secret fails", async () => {
    const masked = await api.targets.instructions.query({ wwn: CHAP, tag: 1 });
    expect(masked.masked).toBe(true);
    expect(JSON.stringify(masked)).not.toContain("alicesecret12");
    const { all, i } = await instructionsFor(CHAP);
    expect([all.chapRequired, all.warnings, i.chap]).toEqual([true, [], { userid: "alice", secret: "alicesecret12", mutualUserid: null, mutualSecret: null }]);
    expect(i.url).toBe(`iscsi://alice%alicesecret12@127.0.0.1:${port}/${CHAP}/0`);
    expect(i.linux).toContain("node.session.auth.password -v alicesecret12");
    const { inq } = follow(i, CHAP);
    const wrong = run(inq.replace("alicesecret12", "wrongsecret12"));
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr + wrong.stdout).toMatch(/Authentication failure/);
  });

  it("mutual CHAP: libiscsi verifies the target with target_user/target_password", async () => {
    const { i } = await instructionsFor(MUTUAL);
    expect(i.chap).toEqual({ userid: "bob", secret: "bobsecret1234", mutualUserid: "portico", mutualSecret: "targetsecret12" });
    expect(i.linux).toContain("node.session.auth.username_in -v portico");
    expect(i.linux).toContain("node.session.auth.password_in -v targetsecret12");
    const { inq } = follow(i, MUTUAL);
    expect(inq).toContain("target_user=portico&target_password=targetsecret12");
    // The target's answer is checked: an initiator expecting another mutual secret refuses it.
    const spoofed = run(inq.replace("target_password=targetsecret12", "target_password=othersecret12"));
    expect(spoofed.status).not.toBe(0);
    expect(spoofed.stderr + spoofed.stdout).toMatch(/Invalid CHAP_R response from the target/);
  });

  it("credentials on an ACL of a TPG with authentication=0: an initiator offering CHAP is verified (a wrong secret fails)", async () => {
    // Stop requiring CHAP on the CHAP target; the ACL keeps its credentials.
    await api.targets.tpgs.setAttributes.mutate({ wwn: CHAP, tag: 1, attributes: { authentication: 0 } });
    const { all, i } = await instructionsFor(CHAP);
    expect(all.chapRequired).toBe(false);
    expect(all.warnings.join("\n")).toMatch(/does not require CHAP/);
    const { inq } = follow(i, CHAP);
    // libiscsi offers AuthMethod=CHAP,None; the target takes CHAP and checks the response.
    const wrong = run(inq.replace("alicesecret12", "wrongsecret12"));
    expect(wrong.status, wrong.stdout).not.toBe(0);
    expect(wrong.stderr + wrong.stdout).toMatch(/Authentication failure/);
    const events = await api.events.list.query({ types: ["login_failed"] });
    expect(events.some((e) => e.initiatorName === HOST && /does not match/.test(e.message ?? ""))).toBe(true);
    // Without credentials the initiator is not asked for CHAP (authentication=0): it logs in.
    const none = run(`iscsi-inq -i ${HOST} iscsi://127.0.0.1:${port}/${CHAP}/0`);
    expect(none.status, none.stderr).toBe(0);
  });
});
