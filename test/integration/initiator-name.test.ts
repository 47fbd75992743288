/**
 * An invalid InitiatorName is refused at login with Initiator Error (RFC 7143 §4.2.7,
 * status 0x0200) before it reaches the event log, from our own client and from libiscsi;
 * a valid name written in capitals still logs in.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemo } from "../support/demo";
import { loginStatus } from "../support/iscsi-client";
import { freePort } from "../support/ports";
import { makeDataDir, sh, stopAndRemove, type PorticoProcess } from "../support/portico";
import { apiClient } from "./monitor-support";

const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.initname0001";
let dataDir: string;
let port: number;
let server: PorticoProcess;
let api: ReturnType<typeof apiClient>;

const login = (initiatorName: string, discovery = false) => loginStatus(port, { initiatorName, targetName: IQN, discovery });

beforeAll(async () => {
  dataDir = makeDataDir("portico-initname-");
  port = await freePort();
  server = await startDemo(dataDir, { iqn: IQN, storageObjects: [{ name: "initname0", plugin: "ramdisk", size: 4 * 1024 * 1024 }], ports: [port] });
  api = apiClient(server.url, dataDir);
});

afterAll(() => stopAndRemove(server, dataDir));

describe("InitiatorName at login", () => {
  const bad = [
    "iqn.2024-13.org.portico.test:month13",
    "iqn.2024-01.org.portico.test:<script>alert(1)</script>",
    "iqn.2024-01.org.portico.test:under_score",
    `iqn.2024-01.org.portico.test:${"l".repeat(220)}`,
    "initiator-without-a-form",
  ];

  it("refuses each invalid name with 0x0200 in normal and discovery sessions, and no event carries it", async () => {
    for (const name of bad) {
      expect(await login(name), name).toEqual([2, 0]);
      expect(await login(name, true), name).toEqual([2, 0]);
    }
    const events = await api.events.list.query({ types: ["login_failed"] });
    const ours = events.filter((e) => /not a valid iSCSI name/.test(e.message ?? ""));
    expect(ours.length).toBeGreaterThan(0);
    const text = JSON.stringify(events);
    expect(text).not.toContain("<script>");
    expect(text).not.toContain("month13");
    expect(text).not.toContain("under_score");
  });

  it("libiscsi with an invalid name fails to log in; with a valid name in capitals it reaches the LUN", () => {
    const refused = sh("iscsi-inq", ["-i", "iqn.2024-13.org.portico.test:libiscsi", `iscsi://127.0.0.1:${port}/${IQN}/0`], 30_000);
    expect(refused.status).not.toBe(0);
    const ok = sh("iscsi-inq", ["-i", "IQN.2024-01.ORG.PORTICO.TEST:LIBISCSI", `iscsi://127.0.0.1:${port}/${IQN}/0`], 30_000);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/Vendor:|T10 Vendor/i);
  });
});
