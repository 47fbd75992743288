/**
 * InitiatorName at login (RFC 7143 §4.2.7): the name is checked before it reaches an ACL
 * lookup, a log line or a database row, and a bad one is refused with status 0x0200.
 */
import { describe, expect, it } from "vitest";
import { iscsiNameProblem } from "../../../server/engine/core/names";
import { Engine } from "../../../server/engine/core/engine";
import { LoginMachine, type LoginEnv } from "../../../server/engine/iscsi/login";
import type { LoginRequestHeader } from "../../../server/engine/iscsi/pdu";
import { encodeText } from "../../../server/engine/iscsi/text";

const T = "iqn.2024-01.org.portico.test:t";

describe("iscsiNameProblem", () => {
  it.each([
    "iqn.2024-01.org.portico.test:i",
    "iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test",
    "iqn.1991-05.com.microsoft:win-host.example.com",
    "iqn.1998-01.com.vmware:esx1-4a5b6c7d",
    "IQN.2024-01.ORG.PORTICO.TEST:UPPER",
    "iqn.2024-01.org.portico",
    "eui.02004567a425678d",
    "naa.52004567ba64678d",
    "naa.62004567ba64678d0123456789abcdef",
    "iqn.2024-01.de.bücher:täst",
  ])("accepts %s", (n) => expect(iscsiNameProblem(n, "login")).toBeUndefined());

  it.each([
    ["", /empty/],
    ["iqn.2024-13.org.portico.test:i", /month/],
    ["iqn.2024-00.org.portico.test:i", /month/],
    ["iqn.2024-01.org.portico.test:bad name", /character/],
    ["iqn.2024-01.org.portico.test:bad_name", /character/],
    ["iqn.2024-01.org.portico.test:<script>", /character/],
    ["iqn.2024-01.org.portico.test:tab\there", /character/],
    ["iqn.24-01.org.portico:i", /iqn\.YYYY-MM/],
    ["iqn.2024-01..org:i", /empty label/],
    ["eui.0200", /16 hexadecimal/],
    ["naa.5200456", /16 or 32/],
    ["initiator1", /starts with iqn\., eui\. or naa\./],
    [`iqn.2024-01.org.portico:${"x".repeat(210)}`, /223 bytes/],
  ])("refuses %j", (n, why) => expect(iscsiNameProblem(n, "login")).toMatch(why));
});

describe("login with an invalid InitiatorName", () => {
  const engine = new Engine({ openBackstore: async () => { throw new Error("unused"); }, createDevice: () => ({ execute: async () => ({ status: 0 }) }) });
  engine.createTarget(T);
  engine.createTpg(T, 1, { attributes: { generate_node_acls: 1 } }).portals.add("127.0.0.1:3260");
  const env: LoginEnv = {
    listenerKey: "127.0.0.1:3260",
    findTpg: (name) => engine.tpgForLogin(name, "127.0.0.1:3260"),
    discoveryAuth: () => ({ required: false, credentials: undefined }),
  };
  const header: LoginRequestHeader = { immediate: true, transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0, isid: "400001370000", tsih: 0, itt: 1, cid: 0, cmdSN: 1, expStatSN: 0 };
  const login = (initiator: string, sessionType = "Normal") => {
    const m = new LoginMachine(env);
    const r = m.handle(header, encodeText([["InitiatorName", initiator], ["SessionType", sessionType], ...(sessionType === "Normal" ? [["TargetName", T] as [string, string]] : [])]));
    return { m, r };
  };

  it("is refused with Initiator Error (0x0200), in normal and discovery sessions, without keeping the name", () => {
    for (const type of ["Normal", "Discovery"]) {
      const { m, r } = login("iqn.2024-01.org.evil:<img src=x>", type);
      expect(r.outcome).toBe("fail");
      expect(r.failure?.status).toBe(0x0200);
      expect(r.failure?.reason).toBe("invalid initiator name");
      expect(r.failure?.message).not.toContain("<img");
      expect(m.initiatorName || undefined).toBeUndefined();
    }
  });

  it("a valid name in capitals logs in, compared lowercased", () => {
    const { m, r } = login("IQN.2024-01.ORG.PORTICO.TEST:UPPER");
    expect(r.failure).toBeUndefined();
    expect(r.outcome).toBe("complete");
    expect(m.initiatorName).toBe("iqn.2024-01.org.portico.test:upper");
  });
});
