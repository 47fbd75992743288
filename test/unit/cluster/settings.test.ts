import { describe, expect, it } from "vitest";
import { parseClusterUrl, readClusterSettings, validateNodeName } from "../../../server/cluster/settings";

describe("cluster settings", () => {
  it("parses etcd:// lists into client URLs", () => {
    expect(parseClusterUrl("etcd://127.0.0.1:2379")).toEqual(["http://127.0.0.1:2379"]);
    expect(parseClusterUrl("etcd://e1:2379, e2:2379,e1:2379")).toEqual(["http://e1:2379", "http://e2:2379"]);
    expect(parseClusterUrl("etcd://[fd00::1]:2379")).toEqual(["http://[fd00::1]:2379"]);
  });
  it.each([["etcd://nohost", /"nohost" is not host:port/], ["etcd://h:0", /not host:port/], ["etcd://h:70000", /not host:port/], ["redis://h:1", /expected etcd:\/\//]])("refuses %s", (v, why) => {
    expect(() => parseClusterUrl(v)).toThrow(why);
  });
  it("node names are host name labels, lowercased", () => {
    expect(validateNodeName("GW-A")).toBe("gw-a");
    for (const bad of ["", "-a", "a-", "gw_a", "gw.a", "x".repeat(64)]) expect(() => validateNodeName(bad)).toThrow(/not a valid node name/);
  });
  it("no PORTICO_CLUSTER: a single appliance; PORTICO_NODE defaults to the host name", () => {
    expect(readClusterSettings({})).toBeUndefined();
    const s = readClusterSettings({ PORTICO_CLUSTER: "etcd://127.0.0.1:2379" })!;
    expect(s.node).toMatch(/^[a-z0-9-]+$/);
    expect(readClusterSettings({ PORTICO_CLUSTER: "etcd://127.0.0.1:2379", PORTICO_NODE: "gw-b" })!.node).toBe("gw-b");
  });
});
