/**
 * The cluster configuration document (server/cluster/config-doc.ts): encode/decode with checks
 * that name what is wrong, order-independent comparison, and the revision rule that decides
 * what a node does with a document it reads.
 */
import { describe, expect, it } from "vitest";
import { emptyConfig, type PorticoConfig } from "@/server/config/model";
import {
  canonicalConfig,
  conflictMessage,
  ConfigDocError,
  decideRemote,
  decodeDoc,
  DOC_FORMAT,
  encodeDoc,
  sameState,
  sizeMessage,
  stableJson,
  stateText,
  type ConfigDoc,
} from "@/server/cluster/config-doc";

const settings = { autoAddMappedLuns: true, maxBackupFiles: 10 };

function config(): PorticoConfig {
  return {
    storageObjects: [
      { plugin: "ramdisk", name: "b", size: 1048576, wwn: "w-b", writeBack: false, blockSize: 512, readonly: false, attributes: { emulate_tpu: 1, emulate_3pc: 1 } },
      { plugin: "ramdisk", name: "a", size: 1048576, wwn: "w-a", writeBack: false, blockSize: 512, readonly: false, attributes: {} },
    ],
    targets: [
      {
        wwn: "iqn.2003-01.org.example:t1",
        tpgs: [
          {
            tag: 2,
            enabled: true,
            node: "gw-b",
            attributes: { authentication: 0 },
            parameters: {},
            chap: {},
            luns: [
              { index: 1, storageObject: "/backstores/ramdisk/b" },
              { index: 0, storageObject: "/backstores/ramdisk/a" },
            ],
            portals: [
              { ip: "127.0.0.1", port: 3262 },
              { ip: "0.0.0.0", port: 3262 },
            ],
            nodeAcls: [
              { initiatorName: "iqn.z", attributes: {}, chap: {}, mappedLuns: [{ index: 1, tpgLun: 1, writeProtect: false }, { index: 0, tpgLun: 0, writeProtect: true }] },
              { initiatorName: "iqn.a", attributes: {}, chap: { userid: "u", password: "secret-secret" }, mappedLuns: [] },
            ],
          },
          { tag: 1, enabled: true, attributes: {}, parameters: {}, chap: {}, luns: [], portals: [], nodeAcls: [] },
        ],
      },
    ],
    discoveryAuth: { enabled: false },
  };
}

/** The same objects, every list reversed and every object's keys in another order. */
function shuffled(c: PorticoConfig): PorticoConfig {
  const rev = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rev).reverse();
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, rev(x)]));
    return v;
  };
  return rev(c) as PorticoConfig;
}

const doc = (c: PorticoConfig): ConfigDoc => ({ format: DOC_FORMAT, node: "gw-a", at: "2026-12-02T13:00:00.000Z", change: "0011223344556677", config: c, settings });

describe("cluster configuration document", () => {
  it("round-trips through encode/decode", () => {
    const d = doc(config());
    expect(decodeDoc(encodeDoc(d))).toEqual(d);
  });

  it("refuses what it cannot apply, by name", () => {
    expect(() => decodeDoc("{")).toThrow(ConfigDocError);
    expect(() => decodeDoc("{")).toThrow(/\/portico\/v1\/config is not JSON/);
    expect(() => decodeDoc("[]")).toThrow(/format undefined/);
    expect(() => decodeDoc(JSON.stringify({ ...doc(config()), format: 2 }))).toThrow(/format 2; this Portico reads format 1 \(a newer node wrote it\?\)/);
    expect(() => decodeDoc(JSON.stringify({ ...doc(config()), node: undefined }))).toThrow(/has no writer/);
    expect(() => decodeDoc(JSON.stringify({ ...doc(config()), config: { storageObjects: [] } }))).toThrow(/has no configuration/);
    expect(() => decodeDoc(JSON.stringify({ ...doc(config()), settings: { autoAddMappedLuns: "yes" } }))).toThrow(/has no settings/);
  });

  it("compares content, not order or writer", () => {
    const a = { config: config(), settings };
    const b = { config: shuffled(config()), settings };
    expect(stableJson(a.config)).not.toBe(stableJson(b.config)); // the lists really are in another order
    expect(sameState(a, b)).toBe(true);
    const other: ConfigDoc = { ...doc(config()), node: "gw-z", at: "later" };
    expect(stateText(doc(config()))).toBe(stateText(other));
    // Any real difference shows.
    const c = config();
    c.targets[0]!.tpgs[0]!.nodeAcls[0]!.mappedLuns[1]!.writeProtect = false;
    expect(sameState(a, { config: c, settings })).toBe(false);
    expect(sameState(a, { config: config(), settings: { ...settings, autoAddMappedLuns: false } })).toBe(false);
    const d = config();
    d.targets[0]!.tpgs[0]!.node = "gw-a";
    expect(sameState(a, { config: d, settings })).toBe(false);
  });

  it("canonical order: by name, tag, index and address", () => {
    const c = canonicalConfig(config());
    expect(c.storageObjects.map((s) => s.name)).toEqual(["a", "b"]);
    expect(c.targets[0]!.tpgs.map((g) => g.tag)).toEqual([1, 2]);
    const tpg2 = c.targets[0]!.tpgs[1]!;
    expect(tpg2.luns.map((l) => l.index)).toEqual([0, 1]);
    expect(tpg2.portals.map((p) => p.ip)).toEqual(["0.0.0.0", "127.0.0.1"]);
    expect(tpg2.nodeAcls.map((a) => a.initiatorName)).toEqual(["iqn.a", "iqn.z"]);
    expect(tpg2.nodeAcls[1]!.mappedLuns.map((m) => m.index)).toEqual([0, 1]);
    expect(canonicalConfig(emptyConfig())).toEqual(emptyConfig());
  });

  it("stableJson sorts keys and leaves out undefined", () => {
    expect(stableJson({ b: 1, a: [1, { d: undefined, c: "x" }] })).toBe('{"a":[1,{"c":"x"}],"b":1}');
    expect(stableJson(undefined)).toBe("null");
  });

  it("revision rule: older or same ignored, newer and same content recorded, newer and different applied", () => {
    expect(decideRemote(5n, 5n, false)).toBe("ignore"); // our own write coming back through the watch
    expect(decideRemote(4n, 5n, false)).toBe("ignore");
    expect(decideRemote(6n, 5n, true)).toBe("record");
    expect(decideRemote(6n, 5n, false)).toBe("apply");
    expect(decideRemote(1n, undefined, false)).toBe("apply"); // joining: nothing applied yet
    expect(decideRemote(1n, undefined, true)).toBe("record");
  });

  it("messages name the other node and what to do", () => {
    expect(conflictMessage({ node: "gw-b", revision: "42" }, "gw-a")).toBe(
      "the configuration was changed on node gw-b meanwhile (cluster revision 42): nothing was changed here; reload and retry",
    );
    expect(conflictMessage(undefined, "gw-a")).toMatch(/^the configuration was changed on another node meanwhile: nothing was changed here/);
    expect(sizeMessage(2_000_000)).toMatch(/would be 1954 KiB, over the 1367 KiB etcd holds in one value/);
  });
});
