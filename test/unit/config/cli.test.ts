/** The `portico` CLI while the appliance is stopped: it works on the DB directly. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lioExample, tempDir } from "./helpers";

const root = path.resolve(__dirname, "..", "..", "..");
let dir: string;
beforeEach(() => {
  dir = tempDir("portico-cli-");
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function portico(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, "bin", "portico.mjs"), ...args], {
    cwd: os_tmp(),
    env: { ...process.env, PORTICO_DATA_DIR: path.join(dir, "data") },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
// Run from outside the checkout: the bin must find tsx and server/cli.ts from its own location.
const os_tmp = () => dir;

/** §1.5 without the block device (the CLI's offline checks need a real one). */
function exampleFile(): string {
  const doc = lioExample(dir) as any;
  doc.storage_objects.splice(1, 1);
  const tpg = doc.targets[0].tpgs[0];
  tpg.luns = tpg.luns.filter((l: any) => l.index !== 1);
  for (const a of tpg.node_acls) a.mapped_luns = a.mapped_luns.filter((m: any) => m.tpg_lun !== 1);
  const file = path.join(dir, "in.json");
  fs.writeFileSync(file, JSON.stringify(doc));
  return file;
}

// Each case spawns the CLI (a tsx start-up) several times: generous under a loaded machine.
describe("portico CLI, appliance stopped", { timeout: 90_000 }, () => {
  it("restoreconfig then saveconfig round-trips the objects; the not-honoured report goes to stderr", () => {
    const file = exampleFile();
    const restore = portico(["restoreconfig", file]);
    expect(restore.stderr).toContain("targets[0].parameters.cmd_completion_affinity ignored");
    expect(restore.stdout).toContain("restored 2 storage object(s) and 1 target(s)");
    expect(restore.status).toBe(0);
    expect(fs.existsSync(path.join(dir, "vm01.img"))).toBe(true); // created as targetcli does, so the appliance finds it

    const save = portico(["saveconfig"]);
    expect(save.status).toBe(0);
    const out = JSON.parse(save.stdout);
    const input = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(out.storage_objects.map((s: any) => `${s.plugin}/${s.name}/${s.wwn}`)).toEqual(input.storage_objects.map((s: any) => `${s.plugin}/${s.name}/${s.wwn}`));
    expect(out.targets[0].tpgs[0].luns).toEqual(input.targets[0].tpgs[0].luns);
    expect(out.targets[0].tpgs[0].node_acls.map((a: any) => a.mapped_luns)).toEqual(input.targets[0].tpgs[0].node_acls.map((a: any) => a.mapped_luns));

    // To a file: 0600, identical to stdout; and it restores (with clear) to the same file again.
    const target = path.join(dir, "saved.json");
    expect(portico(["saveconfig", target]).status).toBe(0);
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(target, "utf8")).toBe(save.stdout);
    expect(portico(["restoreconfig", target, "--clear"]).status).toBe(0);
    expect(portico(["saveconfig"]).stdout).toBe(save.stdout);

    const status = portico(["status"]);
    expect(status.status).toBe(0);
    expect(status.stdout).toContain("not running");
    expect(status.stdout).toMatch(/targets: 1\b/);
    expect(status.stdout).toMatch(/LUNs: 2\b/);
  });

  it("a refused file exits 1 with the reason and changes nothing", () => {
    const file = exampleFile();
    expect(portico(["restoreconfig", file]).status).toBe(0);
    const before = portico(["saveconfig"]).stdout;
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    doc.targets[0].wwn = "iqn.2024-01.com.example:other";
    doc.targets[0].tpgs[0].luns[0].storage_object = "/backstores/fileio/missing";
    fs.writeFileSync(file, JSON.stringify(doc));
    const r = portico(["restoreconfig", file, "--clear"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("/backstores/fileio/missing");
    expect(portico(["saveconfig"]).stdout).toBe(before);
  });

  it("a file with a short CHAP secret or a broken JSON exits 1 naming the key or the line, never the secret (issue 15 item 7)", () => {
    const file = exampleFile();
    expect(portico(["restoreconfig", file]).status).toBe(0);
    const before = portico(["saveconfig"]).stdout;
    const doc = JSON.parse(fs.readFileSync(file, "utf8"));
    doc.targets[0].tpgs[0].node_acls[0].chap_password = "shortPw";
    fs.writeFileSync(file, JSON.stringify(doc, null, 2));
    const r = portico(["restoreconfig", file, "--clear"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("targets[0].tpgs[0].node_acls[0].chap_password");
    expect(r.stderr).toContain("at least 12 characters");
    expect(r.stderr + r.stdout).not.toContain("shortPw");
    fs.writeFileSync(file, '{\n  "targets": [{"chap_password": "halfTyped-Secret-77" ]\n}');
    const broken = portico(["restoreconfig", file, "--clear"]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/not valid JSON \(line 2, column \d+\)/);
    expect(broken.stderr + broken.stdout).not.toContain("halfTyped");
    expect(portico(["saveconfig"]).stdout).toBe(before);
  });

  it("usage errors and missing files exit 1 with a message", () => {
    const a = portico(["frobnicate"]);
    expect(a.status).toBe(1);
    // Anything that is not one of the targetctl commands is targetcli's language (server/shell).
    expect(a.stderr).toBe("Command not found frobnicate\n");
    const b = portico(["restoreconfig", path.join(dir, "nope.json")]);
    expect(b.status).toBe(1);
    expect(b.stderr).toContain("no such file");
  });
});

describe("portico CLI while another process holds the data directory (an appliance still starting)", { timeout: 90_000 }, () => {
  it("restoreconfig refuses, says why, and changes nothing", async () => {
    const { lockDataDir } = await import("@/server/db/lock");
    const file = exampleFile();
    const lock = lockDataDir(path.join(dir, "data"));
    try {
      const r = portico(["restoreconfig", file]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/starting or stopping/);
      expect(fs.existsSync(path.join(dir, "data", "portico.db"))).toBe(false);
    } finally {
      lock.release();
    }
    expect(portico(["restoreconfig", file]).status).toBe(0);
  });
});
