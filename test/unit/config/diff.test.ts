/** The audit log's before → after (server/config/diff.ts): objects named by path, secrets masked. */
import { describe, expect, it } from "vitest";
import { describeChange, diffState, MASK } from "../../../server/config/diff";
import { emptyConfig, type PorticoConfig } from "../../../server/config/model";

const IQN = "iqn.2003-01.org.example:t1";
const INIT = "iqn.2024-01.org.example:host1";

function config(mut: (c: PorticoConfig) => void = () => undefined): PorticoConfig {
  const c: PorticoConfig = {
    ...emptyConfig(),
    storageObjects: [{ plugin: "ramdisk", name: "rd0", size: 1048576, writeBack: false, blockSize: 512, readonly: false, attributes: {} }],
    targets: [
      {
        wwn: IQN,
        tpgs: [
          {
            tag: 1, enabled: true, attributes: { authentication: 0 }, parameters: {}, chap: {}, luns: [{ index: 0, storageObject: "/backstores/ramdisk/rd0" }],
            portals: [{ ip: "0.0.0.0", port: 3260 }],
            nodeAcls: [{ initiatorName: INIT, attributes: {}, chap: { userid: "u1", password: "first-secret-1" }, mappedLuns: [{ index: 0, tpgLun: 0, writeProtect: false }] }],
          },
        ],
      },
    ],
  };
  mut(c);
  return c;
}

describe("diffState", () => {
  it("names the changed object and field, before → after", () => {
    const after = config((c) => (c.targets[0].tpgs[0].attributes.authentication = 1));
    expect(diffState({ config: config() }, { config: after })).toEqual([
      { object: `/iscsi/${IQN}/tpg1`, action: "changed", fields: [{ field: "attributes.authentication", before: 0, after: 1 }] },
    ]);
  });

  it("names ALUA groups by targetcli's path and a LUN's group change on the LUN", () => {
    const groups = (state: number) => [
      { name: "default_tg_pt_gp", id: 0, attributes: { alua_access_state: 0 } },
      { name: "sb", id: 2, attributes: { alua_access_state: state } },
    ];
    const before = config((c) => (c.storageObjects[0].aluaGroups = groups(0)));
    const after = config((c) => {
      c.storageObjects[0].aluaGroups = groups(2);
      c.targets[0].tpgs[0].luns[0].aluaGroup = "sb";
    });
    expect(diffState({ config: before }, { config: after })).toEqual(
      expect.arrayContaining([
        { object: "/backstores/ramdisk/rd0/alua/sb", action: "changed", fields: [{ field: "attributes.alua_access_state", before: 0, after: 2 }] },
        { object: `/iscsi/${IQN}/tpg1/luns/lun0`, action: "changed", fields: [{ field: "aluaGroup", before: undefined, after: "sb" }] },
      ]),
    );
  });

  it("masks secrets: set, changed and cleared say so without the value", () => {
    const changed = config((c) => (c.targets[0].tpgs[0].nodeAcls[0].chap.password = "second-secret-2"));
    const cleared = config((c) => (c.targets[0].tpgs[0].nodeAcls[0].chap = {}));
    const acl = `/iscsi/${IQN}/tpg1/acls/${INIT}`;
    const a = diffState({ config: config() }, { config: changed });
    expect(a).toEqual([{ object: acl, action: "changed", fields: [{ field: "chap.password", before: MASK, after: MASK, secret: true }] }]);
    expect(describeChange(a[0])).toBe(`changed ${acl}: chap.password "${MASK}" → "${MASK}" (changed)`);
    const b = diffState({ config: config() }, { config: cleared });
    expect(b[0].fields).toEqual([
      { field: "chap.password", before: MASK, after: undefined, secret: true },
      { field: "chap.userid", before: "u1", after: undefined },
    ]);
    expect(JSON.stringify([a, b])).not.toMatch(/first-secret|second-secret/);
  });

  it("lists created and deleted objects with their paths (children of a deleted target too)", () => {
    const created = config((c) => c.storageObjects.push({ plugin: "fileio", name: "f1", dev: "/srv/f1.img", size: 4096, writeBack: true, blockSize: 512, readonly: false, attributes: {} }));
    const d = diffState({ config: config() }, { config: created });
    expect(d.map((x) => [x.action, x.object])).toEqual([["created", "/backstores/fileio/f1"]]);
    expect(d[0].fields).toContainEqual({ field: "dev", before: undefined, after: "/srv/f1.img" });
    const gone = diffState({ config: config() }, { config: config((c) => (c.targets = [])) });
    expect(gone.map((x) => x.object)).toEqual([
      `/iscsi/${IQN}`,
      `/iscsi/${IQN}/tpg1`,
      `/iscsi/${IQN}/tpg1/acls/${INIT}`,
      `/iscsi/${IQN}/tpg1/acls/${INIT}/mapped_lun0`,
      `/iscsi/${IQN}/tpg1/luns/lun0`,
      `/iscsi/${IQN}/tpg1/portals/0.0.0.0:3260`,
    ]);
    expect(gone.every((x) => x.action === "deleted")).toBe(true);
  });

  it("compares settings, nested secrets masked", () => {
    const d = diffState(
      { config: config(), settings: { "appliance.name": "old", alerts: { email: { password: "smtp-pass-1", host: "a" } } } },
      { config: config(), settings: { "appliance.name": "new", alerts: { email: { password: "smtp-pass-2", host: "a" } } } },
    );
    expect(d).toEqual([
      {
        object: "/settings",
        action: "changed",
        fields: [
          { field: "alerts.email.password", before: MASK, after: MASK, secret: true },
          { field: "appliance.name", before: "old", after: "new" },
        ],
      },
    ]);
  });

  it("finds nothing when nothing changed", () => {
    expect(diffState({ config: config(), settings: { a: 1 } }, { config: config(), settings: { a: 1 } })).toEqual([]);
  });
});
