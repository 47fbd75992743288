import { describe, expect, it } from "vitest";
import { formatRbdConfig, parseRbdConfig } from "@/server/engine/backstores/rbd-config";
import { parseSaveconfig, toSaveconfig } from "@/server/config/saveconfig";
import { rbdUnmapAttributes, storageObjectAttributeDefaults } from "@/server/engine/core/defaults";

const MiB = 1024 * 1024;

describe("tcmu user:rbd config string", () => {
  it("parses tcmu-runner's form with its defaults (/etc/ceph/ceph.conf, client admin, osd_op_timeout 30)", () => {
    const c = parseRbdConfig("rbd/rbd/disk_1");
    expect(c).toMatchObject({ pool: "rbd", image: "disk_1", conf: "/etc/ceph/ceph.conf", id: "admin", osdOpTimeout: 30 });
    const d = parseRbdConfig("rbd/pool2/img;osd_op_timeout=5;conf=/tmp/c/ceph.conf;id=client.gw1");
    expect(d).toMatchObject({ pool: "pool2", image: "img", conf: "/tmp/c/ceph.conf", id: "gw1", osdOpTimeout: 5 });
    expect(formatRbdConfig(d)).toBe("rbd/pool2/img;osd_op_timeout=5;conf=/tmp/c/ceph.conf;id=gw1");
    expect(formatRbdConfig(c)).toBe("rbd/rbd/disk_1");
  });

  it("refuses what is not an rbd config, with a message naming the problem", () => {
    expect(() => parseRbdConfig("qcow//var/lib/x.qcow2")).toThrow(/not an rbd config/);
    expect(() => parseRbdConfig("rbd/pool")).toThrow(/not an rbd config/);
    expect(() => parseRbdConfig("rbd/pool/img@snap")).toThrow(/snapshots are not supported/);
    expect(() => parseRbdConfig("rbd/pool/img;conf=relative.conf")).toThrow(/absolute path/);
    expect(() => parseRbdConfig("rbd/pool/img;osd_op_timeout=soon")).toThrow(/whole seconds/);
    expect(() => parseRbdConfig("rbd/pool/img;cache=1")).toThrow(/unknown rbd config option "cache"/);
  });
});

describe("saveconfig.json with tcmu user objects", () => {
  const doc = (objects: object[], luns: object[]) => ({
    storage_objects: objects,
    targets: [{ fabric: "iscsi", wwn: "iqn.2003-01.org.linux-iscsi.x:sn.1", tpgs: [{ tag: 1, enable: true, luns, portals: [], node_acls: [], attributes: {}, parameters: {} }] }],
  });
  const rbd = { plugin: "user", name: "disk_1", size: 1 << 30, config: "rbd/rbd/disk_1;osd_op_timeout=30", wwn: "5b1c0a30-0000-4000-8000-0000000000a1", hw_max_sectors: 1024, control: "max_data_area_mb=8", attributes: { block_size: 512 } };

  it("a user:rbd object restores as an rbd storage object and exports back in tcmu's form, LUN path included", () => {
    const parsed = parseSaveconfig(doc([rbd], [{ index: 0, storage_object: "/backstores/user:rbd/disk_1" }]));
    const so = parsed.config.storageObjects[0];
    expect(so).toMatchObject({ plugin: "rbd", name: "disk_1", dev: "rbd/rbd/disk_1;osd_op_timeout=30" });
    expect(parsed.config.targets[0].tpgs[0].luns[0].storageObject).toBe("/backstores/rbd/disk_1");
    const out = toSaveconfig(parsed.config) as { storage_objects: Record<string, unknown>[]; targets: { tpgs: { luns: { storage_object: string }[] }[] }[] };
    expect(out.storage_objects[0]).toMatchObject({ plugin: "user", name: "disk_1", config: "rbd/rbd/disk_1;osd_op_timeout=30", size: 1 << 30, wwn: rbd.wwn });
    expect(out.targets[0].tpgs[0].luns[0].storage_object).toBe("/backstores/user:rbd/disk_1");
  });

  it("other tcmu handlers are skipped by name, and so are their LUNs", () => {
    const qcow = { plugin: "user", name: "q", size: 1 << 20, config: "qcow//var/lib/q.qcow2", wwn: "5b1c0a30-0000-4000-8000-0000000000a2", attributes: {} };
    const parsed = parseSaveconfig(doc([qcow], [{ index: 0, storage_object: "/backstores/user:qcow/q" }]));
    expect(parsed.config.storageObjects).toHaveLength(0);
    expect(parsed.notHonoured.join("\n")).toMatch(/user:qcow is not supported/);
    expect(parsed.config.targets[0].tpgs[0].luns).toHaveLength(0);
  });

  it("a user:rbd object with a bad config string is refused at import", () => {
    expect(() => parseSaveconfig(doc([{ ...rbd, config: "rbd/rbd/disk_1;bogus=1" }], []))).toThrow(/bogus/);
  });
});

describe("rbd UNMAP limits (Block Limits VPD), as tcmu-runner's rbd handler reports them", () => {
  it("allow 4 objects per UNMAP with a granularity of one object, in blocks of either size", () => {
    // 4 MiB objects (rbd create's default): 16 MiB per UNMAP, whatever the block size.
    expect(rbdUnmapAttributes(4 * MiB, 512)).toEqual({ max_unmap_lba_count: 32768, unmap_granularity: 8192 });
    expect(rbdUnmapAttributes(4 * MiB, 4096)).toEqual({ max_unmap_lba_count: 4096, unmap_granularity: 1024 });
    // An image made with --object-size 64K.
    expect(rbdUnmapAttributes(64 * 1024, 512)).toEqual({ max_unmap_lba_count: 512, unmap_granularity: 128 });
    // The defaults stored before the image is opened (restoreconfig offline) are the 4 MiB ones.
    expect(storageObjectAttributeDefaults("rbd", 512)).toMatchObject(rbdUnmapAttributes(4 * MiB, 512));
  });

  it("stay within what initiators accept as a sane MAXIMUM UNMAP LBA COUNT (libiscsi: ≤ 1 Mi blocks)", () => {
    // 1 GiB / 512 (2 Mi blocks) made libiscsi's Inquiry.BlockLimits fail on 512-byte rbd LUNs.
    for (const bs of [512, 4096]) expect(storageObjectAttributeDefaults("rbd", bs).max_unmap_lba_count).toBeLessThanOrEqual(1024 * 1024);
  });
});
