/**
 * targetcli's shell through `portico`, against the real appliance process: a
 * targetcli-style script piped in builds a target from nothing (fileio backstore,
 * target, portal, LUN, demo-mode attributes, an ACL with CHAP, saveconfig), then
 * real initiators (libiscsi's iscsi-inq, QEMU's qemu-io) log in and read and write
 * the LUN. One-shot commands, --json, and failures that leave nothing behind.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { createTRPCClient, httpLink } from "@trpc/client";
import superjson from "superjson";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppRouter } from "@/server/api/root";
import { readRuntime, runtimeUrl, TOKEN_HEADER } from "@/server/runtime";
import { freePort, waitForPort } from "../support/ports";
import { makeDataDir, portico, removeDir, sh, startPortico, storageDirOf, type PorticoProcess } from "../support/portico";

const IQN = "iqn.2003-01.com.example.portico:shell1";
const CLIENT = "iqn.1994-05.com.example:client1";
const SECRET = "client1Secret-0123";

let dataDir: string;
let iscsiPort: number;
let server: PorticoProcess | undefined;

function script(): string {
  return `set global auto_add_default_portal=false
/backstores/fileio create name=disk1 file_or_dev=${storageDirOf(dataDir)}/disk1.img size=64M
/backstores/ramdisk create r1 16M
/iscsi create ${IQN}
cd /iscsi/${IQN}/tpg1
portals/ create 127.0.0.1 ${iscsiPort}
luns/ create /backstores/fileio/disk1
set attribute generate_node_acls=1 demo_mode_write_protect=0 cache_dynamic_acls=1
acls/ create ${CLIENT}
cd acls/${CLIENT}
set auth userid=client1 password=${SECRET}
cd /
saveconfig ${dataDir}/saved.json
`;
}

beforeAll(async () => {
  dataDir = makeDataDir("portico-shell-it-");
  iscsiPort = await freePort();
  server = await startPortico({ dataDir });
});

afterAll(async () => {
  await server?.stop().catch(() => server?.kill());
  removeDir(dataDir);
});

describe("a targetcli script piped into portico, against the running appliance", () => {
  it("runs every line and prints targetcli's messages", () => {
    const r = portico(dataDir, [], script());
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const line of [
      "Parameter auto_add_default_portal is now 'false'.",
      "Created fileio disk1 with size 67108864",
      "Created ramdisk r1 with size 16M.",
      `Created target ${IQN}.`,
      "Created TPG 1.",
      `Created network portal 127.0.0.1:${iscsiPort}.`,
      "Created LUN 0.",
      "Parameter generate_node_acls is now '1'.",
      "Parameter demo_mode_write_protect is now '0'.",
      `Created Node ACL for ${CLIENT}`,
      "Created Mapped LUN 0.",
      "Parameter userid is now 'client1'.",
      `Configuration saved to ${dataDir}/saved.json`,
    ]) {
      expect(r.stdout).toContain(line);
    }
    // cd carried over: the prompt followed it.
    expect(r.stdout).toContain(`/iscsi/iqn.20...o:shell1/tpg1> Created LUN 0.`);
    const saved = JSON.parse(readFileSync(path.join(dataDir, "saved.json"), "utf8"));
    expect(saved.targets[0].wwn).toBe(IQN);
    expect(saved.targets[0].tpgs[0].node_acls[0].chap_password).toBe(SECRET);
  });

  it("the objects it created serve: a demo-mode initiator writes and reads the LUN (qemu-io)", async () => {
    await waitForPort(iscsiPort);
    const url = `iscsi://127.0.0.1:${iscsiPort}/${IQN}/0`;
    const w = sh("qemu-io", ["-f", "raw", "-c", "write -P 0xa5 4096 65536", url]);
    expect(w.status, w.stderr + w.stdout).toBe(0);
    expect(w.stdout).toMatch(/wrote 65536\/65536 bytes/);
    const r = sh("qemu-io", ["-f", "raw", "-c", "read -P 0xa5 4096 65536", "-c", "read -P 0 0 4096", url]);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/Pattern verification failed/);
    expect(r.stdout).toMatch(/read 65536\/65536 bytes/);
    // The bytes are in the fileio backstore's file.
    const bytes = readFileSync(path.join(storageDirOf(dataDir), "disk1.img")).subarray(4096, 4096 + 65536);
    expect(bytes.every((b) => b === 0xa5)).toBe(true);
  });

  it("the ACL's initiator logs in with the CHAP secret set by `set auth` (iscsi-inq)", () => {
    const ok = sh("iscsi-inq", ["-i", CLIENT, `iscsi://client1%${SECRET}@127.0.0.1:${iscsiPort}/${IQN}/0`]);
    expect(ok.status, ok.stderr + ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/LIO-ORG/);
  });
});

describe("one-shot commands", () => {
  it("ls draws targetcli's tree, 132 columns when not on a terminal", () => {
    const r = portico(dataDir, ["ls", `/iscsi/${IQN}/tpg1`]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    for (const l of lines) expect(l.length).toBe(132);
    expect(lines[0]).toMatch(/^o- tpg1 \.+ \[gen-acls, no-auth\]$/);
    expect(lines).toContain(`  | o- ${CLIENT} ${".".repeat(132 - 7 - CLIENT.length - 2 - "[1-way auth, Mapped LUNs: 1]".length)} [1-way auth, Mapped LUNs: 1]`);
    expect(r.stdout).toMatch(/ {2}\| {3}o- mapped_lun0 \.+ \[lun0 fileio\/disk1 \(rw\)\]\n/);
    expect(r.stdout).toContain(`o- lun0 `);
    expect(r.stdout).toContain(`[fileio/disk1 (${storageDirOf(dataDir)}/disk1.img) (default_tg_pt_gp)]`);
    expect(r.stdout).toMatch(new RegExp(`o- 127\\.0\\.0\\.1:${iscsiPort} \\.+ \\[OK\\]`));
  });

  it("--json ls gives the same tree as data", () => {
    const r = portico(dataDir, ["--json", "ls", "/backstores"]);
    expect(r.status, r.stderr).toBe(0);
    const tree = JSON.parse(r.stdout);
    const fileio = tree.children.find((c: { name: string }) => c.name === "fileio");
    expect(fileio.summary).toBe("Storage Objects: 1");
    expect(fileio.children[0]).toMatchObject({ name: "disk1", path: "/backstores/fileio/disk1", summary: `${storageDirOf(dataDir)}/disk1.img (64.0MiB) write-back activated` });
  });

  it("a failing create exits 1 with one sentence on stderr and leaves nothing behind", () => {
    const r = portico(dataDir, ["/backstores/fileio", "create", "bad", "/no/such/dir/bad.img", "1M"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
    const ls = portico(dataDir, ["ls", "/backstores/fileio", "1"]);
    expect(ls.stdout).toContain("[Storage Objects: 1]");
    expect(ls.stdout).not.toContain("o- bad");
  });

  it("set is all-or-nothing: one refused value changes none of the others", () => {
    const tpg = `/iscsi/${IQN}/tpg1`;
    const r = portico(dataDir, [tpg, "set", "attribute", "default_cmdsn_depth=32", "login_timeout=999"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/login_timeout/);
    const g = portico(dataDir, [tpg, "get", "attribute", "default_cmdsn_depth"]);
    expect(g.stdout).toBe("default_cmdsn_depth=64 \n");
  });

  it("targetcli's argument errors, each exit 1", () => {
    const cases: [string[], string][] = [
      [["iscsi"], "Command not found iscsi\n"],
      [["/nope", "ls"], "No such path /nope\n"],
      [["/backstores/ramdisk", "create", "r2"], "Missing required parameter size\n"],
      [["/backstores/ramdisk", "create", "r2", "1M", "colour=red"], "Unexpected keyword parameter 'colour'.\n"],
      [["/backstores/ramdisk", "create", "r2", "size=1M", "size=2M"], "Duplicate parameter size.\n"],
      [[`/iscsi/${IQN}/tpg1`, "set", "attribute", "authentication=abc"], "Not setting authentication! Syntax error, 'abc' is not a NUMBER.\n"],
      [[`/iscsi/${IQN}/tpg1`, "set", "attribute", "nothing=1"], "Unknown parameter nothing in group 'attribute'.\n"],
      [["/backstores/fileio/disk1", "set", "attribute", "hw_block_size=512"], "Parameter hw_block_size is read-only.\n"],
      [["get", "nogroup"], "Unknown configuration group: nogroup\n"],
      [["set", "global", "auto_cd_after_create=maybe"], "Not setting auto_cd_after_create! Syntax error, 'maybe' is not true|false.\n"],
      [["clearconfig"], "As a precaution, confirm=True needs to be set\n"],
    ];
    for (const [args, err] of cases) {
      const r = portico(dataDir, args);
      expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 1, stderr: err });
    }
    // None of them changed anything.
    expect(portico(dataDir, ["ls", "/backstores/ramdisk", "1"]).stdout).toContain("[Storage Objects: 1]");
  });

  it("the existing commands keep working next to the shell", () => {
    const s = portico(dataDir, ["status"]);
    expect(s.status).toBe(0);
    expect(s.stdout).toMatch(/running \(pid \d+\)/);
    expect(s.stdout).toContain("LUNs: 1");
    const out = path.join(dataDir, "again.json");
    const save = portico(dataDir, ["saveconfig", out]);
    expect(save.status, save.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
  });
});

describe("sessions, --json and scripts", () => {
  it("sessions lists a live demo-mode initiator (no ACL), with detail and --json", async () => {
    const url = `iscsi://127.0.0.1:${iscsiPort}/${IQN}/0`;
    // qemu-io logs in and holds the session while it sleeps; QEMU's initiator name has no ACL here.
    const qemu = spawn("qemu-io", ["-f", "raw", "-c", "read 0 4096", "-c", "sleep 60000", url], { stdio: "ignore" });
    try {
      let list = "";
      for (let i = 0; i < 40 && !list.includes("sid:"); i++) {
        list = portico(dataDir, ["sessions"]).stdout;
        if (!list.includes("sid:")) await new Promise((r) => setTimeout(r, 500));
      }
      expect(list).toMatch(/^alias: .*\tsid: \d+ type: Normal session-state: LOGGED_IN\n$/);
      const detail = portico(dataDir, ["sessions", "detail"]);
      expect(detail.status, detail.stderr).toBe(0);
      expect(detail.stdout).toMatch(/\n {4}name: iqn\.2008-11\.org\.linux-kvm\S* \(NOT AUTHENTICATED\)\n/);
      expect(detail.stdout).toContain("\n    mapped-lun: 0 backstore: fileio/disk1 mode: rw\n");
      expect(detail.stdout).toMatch(/\n {4}address: 127\.0\.0\.1 \(TCP\) {2}cid: 0 connection-state: LOGGED_IN\n/);
      const json = portico(dataDir, ["--json", "sessions"]);
      expect(json.status, json.stderr).toBe(0);
      const sessions = JSON.parse(json.stdout);
      expect(sessions).toHaveLength(1);
      expect(sessions[0]).toMatchObject({ targetName: IQN, tpgTag: 1, mappedLuns: [{ lun: 0, backstore: "fileio/disk1", mode: "rw" }] });
    } finally {
      qemu.kill("SIGKILL");
    }
  });

  it("--json get gives the values as an object", () => {
    const r = portico(dataDir, ["--json", `/iscsi/${IQN}/tpg1`, "get", "attribute", "generate_node_acls", "default_cmdsn_depth"]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ generate_node_acls: "1", default_cmdsn_depth: "64" });
  });

  it("a piped script keeps going after an error, reports it on stderr and exits 1", () => {
    const r = portico(dataDir, [], "cd /backstores/ramdisk\ncreate r1 1M\ncreate r9 1M\nls . 1\n/backstores/ramdisk delete r9\n");
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/r1/);
    expect(r.stdout).toContain("Created ramdisk r9 with size 1M.");
    expect(r.stdout).toContain("[Storage Objects: 2]");
    expect(r.stdout).toContain("Deleted storage object r9.");
  });
});

describe("the shell API the interactive shell uses", () => {
  it("completes through the running appliance, and refuses a change sent as a read", async () => {
    const info = readRuntime(dataDir)!;
    const api = createTRPCClient<AppRouter>({
      links: [httpLink({ url: `${runtimeUrl(info)}/api/trpc`, transformer: superjson, headers: { [TOKEN_HEADER]: info.token } })],
    });
    expect(await api.shell.complete.query({ line: "back", cwd: "/" })).toEqual([["backstores/"], "back"]);
    expect((await api.shell.complete.query({ line: "luns/ create ", cwd: `/iscsi/${IQN}/tpg1` }))[0]).toContain("/backstores/fileio/disk1 ");
    const refused = await api.shell.read.query({ line: "/backstores/ramdisk delete r1", cwd: "/" });
    expect(refused.ok).toBe(false);
    expect(portico(dataDir, ["ls", "/backstores/ramdisk", "1"]).stdout).toContain("o- r1 ");
    // Without the token nothing is served.
    const anonymous = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${runtimeUrl(info)}/api/trpc`, transformer: superjson })] });
    await expect(anonymous.shell.read.query({ line: "ls", cwd: "/" })).rejects.toThrow(/sign in/);
  });
});

describe("ALUA from the shell, seen by an initiator", () => {
  it("alua/ create, a LUN moved into the group, the group set to Standby: libiscsi gets NOT READY 04h/0Bh until it is Active/optimized again", async () => {
    await waitForPort(iscsiPort);
    const so = "/backstores/fileio/disk1";
    const lun = `/iscsi/${IQN}/tpg1/luns/lun0`;
    const url = `iscsi://127.0.0.1:${iscsiPort}/${IQN}/0`;
    const capacity = () => sh("iscsi-readcapacity16", ["-i", "iqn.1994-05.com.example:alua-shell", url], 30_000);
    expect(portico(dataDir, [`${so}/alua`, "create", "sb", "5"]).stdout).toBe("Created ALUA TPG sb.\n");
    expect(portico(dataDir, [lun, "set", "alua", "alua_tg_pt_gp_name=sb"]).status).toBe(0);
    expect(portico(dataDir, ["ls", `/iscsi/${IQN}/tpg1/luns`]).stdout).toMatch(/o- lun0 \.+ \[fileio\/disk1 \(.*\) \(sb\)\]/);
    const standby = portico(dataDir, [`${so}/alua/sb`, "set", "alua", "alua_access_state=2"]);
    expect(standby.status, standby.stderr).toBe(0);
    expect(portico(dataDir, ["ls", `${so}/alua`]).stdout).toMatch(/o- sb \.+ \[ALUA state: Standby\]/);
    const refused = capacity();
    expect(refused.status).not.toBe(0);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/NOT READY.*0x040b/);
    expect(portico(dataDir, [`${so}/alua/sb`, "set", "alua", "alua_access_state=0"]).status).toBe(0);
    const served = capacity();
    expect(served.status, served.stderr).toBe(0);
    // Deleting the group puts the LUN back into default_tg_pt_gp.
    expect(portico(dataDir, [`${so}/alua`, "delete", "sb"]).stdout).toBe("Deleted ALUA TPG sb.\n");
    expect(portico(dataDir, ["ls", `/iscsi/${IQN}/tpg1/luns`]).stdout).toMatch(/\(default_tg_pt_gp\)\]/);
  });
});
