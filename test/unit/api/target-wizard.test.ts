import { describe, expect, it } from "vitest";
import { buildTargetSaveconfig } from "../../../server/console/onboarding";
import { targetWizardSchema, TARGET_PRESETS } from "../../../server/console/schemas";
import { checkAclTag } from "../../../server/engine/core/engine";

const base = {
  target: { wwn: "iqn.2003-01.org.example:sn.0123456789ab", ip: "127.0.0.1", port: 3260 },
  access: { mode: "acls" as const, initiators: [{ name: "iqn.1998-01.com.vmware:esx1", auth: "none" as const }] },
  allowedNetworks: ["10.0.0.0/8"],
};

describe("New target wizard document", () => {
  it("new storage gets the preset's attributes; ACLs their group; the TPG its networks", () => {
    const input = targetWizardSchema.parse({ ...base, preset: "esxi", storage: { kind: "ramdisk", name: "esx0", size: 64 << 20 }, aclTag: "esxi-cluster" });
    const doc = buildTargetSaveconfig(input) as { storage_objects: { attributes?: object }[]; targets: { tpgs: Record<string, unknown>[] }[] };
    expect(doc.storage_objects[0].attributes).toEqual(TARGET_PRESETS.esxi.attributes);
    const tpg = doc.targets[0].tpgs[0] as { node_acls: { tag?: string }[]; portico_allowed_networks?: string[]; attributes: Record<string, number> };
    expect(tpg.node_acls[0].tag).toBe("esxi-cluster");
    expect(tpg.portico_allowed_networks).toEqual(["10.0.0.0/8"]);
    expect(tpg.attributes.generate_node_acls).toBe(0);
  });

  it("existing storage: no new storage object, the LUN names the existing one, its attributes untouched", () => {
    const input = targetWizardSchema.parse({ ...base, preset: "windows", storage: { kind: "existing", path: "/backstores/fileio/vm1" }, allowedNetworks: [] });
    const doc = buildTargetSaveconfig(input) as { storage_objects: unknown[]; targets: { tpgs: { luns: { storage_object: string }[]; portico_allowed_networks?: unknown }[] }[] };
    expect(doc.storage_objects).toEqual([]);
    expect(doc.targets[0].tpgs[0].luns[0].storage_object).toBe("/backstores/fileio/vm1");
    expect(doc.targets[0].tpgs[0].portico_allowed_networks).toBeUndefined();
  });

  it("refuses a group with spaces and a network that is not one", () => {
    const r = targetWizardSchema.safeParse({ ...base, preset: "linux", storage: { kind: "existing", path: "/backstores/fileio/vm1" }, aclTag: "a b", allowedNetworks: ["lan"] });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join("."))).toEqual(["aclTag", "allowedNetworks.0"]);
  });

  it("takes the ACL tag by the engine's rule: a '.' refused at the field, as import would refuse it (one rulebook)", () => {
    const r = targetWizardSchema.safeParse({ ...base, preset: "linux", storage: { kind: "existing", path: "/backstores/fileio/vm1" }, aclTag: "esxi.cluster" });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => [i.path.join("."), i.message])).toEqual([["aclTag", "1 to 64 characters, no '.' or spaces"]]);
    expect(() => checkAclTag("esxi.cluster")).toThrow(/no '\.' or spaces/);
    expect(targetWizardSchema.parse({ ...base, preset: "linux", storage: { kind: "existing", path: "/backstores/fileio/vm1" }, aclTag: "esxi_cluster:1" }).aclTag).toBe("esxi_cluster:1");
  });
});
