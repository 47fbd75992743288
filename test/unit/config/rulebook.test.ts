/**
 * One rulebook (issue 9 item 5): a storage object attribute value that set refuses is refused by
 * create and by saveconfig import too, with the same words (core/defaults.ts
 * checkStorageObjectAttributes). Before, create checked neither the allowed values (block_size)
 * nor the cross-checks (emulate_tpu without UNMAP, queue_depth over hw_queue_depth, optimal_sectors
 * over hw_max_sectors), and import had its own copy of the per-key checks.
 */
import { describe, expect, it } from "vitest";
import { ConfigImportError } from "@/server/config/errors";
import { parseSaveconfig } from "@/server/config/saveconfig";
import { createEngine } from "@/server/engine";
import { EngineError } from "@/server/engine/core/errors";

const MiB = 1024 * 1024;

/** Attribute sets set refuses on a ramdisk, and the words of the refusal. */
const REFUSED: [string, Record<string, number>, RegExp][] = [
  ["a block size LIO does not take", { block_size: 1000 }, /block_size must be one of 512, 4096/],
  ["thin provisioning without UNMAP", { max_unmap_block_desc_count: 0, emulate_tpu: 1 }, /emulate_tpu=1 needs UNMAP support/],
  ["a queue deeper than the hardware's", { queue_depth: 1000 }, /queue_depth must be in 1\.\.hw_queue_depth \(128\)/],
  ["a value out of range", { emulate_ua_intlck_ctrl: 3 }, /emulate_ua_intlck_ctrl must be an integer in 0\.\.2/],
];

async function refusal(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return (err as Error).message;
  }
  return "accepted";
}

function importIssues(attributes: Record<string, number>): string {
  try {
    parseSaveconfig({ storage_objects: [{ plugin: "rd_mcp", name: "rd1", size: MiB, attributes }], targets: [] });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigImportError);
    return (err as ConfigImportError).issues.map((i) => `${i.path}: ${i.message}`).join("\n");
  }
  return "accepted";
}

describe("storage object attributes: one rulebook for create, set and import", () => {
  for (const [what, attributes, words] of REFUSED) {
    it(`${what}: refused by set, create and import alike`, async () => {
      const engine = createEngine();
      try {
        await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: MiB });
        const bySet = await refusal(() => engine.setStorageObjectAttributes("ramdisk", "rd0", attributes));
        expect(bySet).toMatch(words);
        const byCreate = await refusal(() => engine.createStorageObject({ plugin: "ramdisk", name: "rd1", size: MiB, attributes }));
        expect(byCreate).toBe(bySet);
        expect(engine.storageObjects.has("ramdisk/rd1")).toBe(false);
        expect(importIssues(attributes)).toContain(bySet);
      } finally {
        await engine.shutdown();
      }
    });
  }

  it("a value set accepts is accepted by create and import, and lands the same", async () => {
    const engine = createEngine();
    try {
      const attributes = { queue_depth: 64, emulate_tpu: 1, is_nonrot: 0 };
      await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: MiB });
      const set = await engine.setStorageObjectAttributes("ramdisk", "rd0", attributes);
      const created = await engine.createStorageObject({ plugin: "ramdisk", name: "rd1", size: MiB, attributes });
      const imported = parseSaveconfig({ storage_objects: [{ plugin: "rd_mcp", name: "rd2", size: MiB, attributes }], targets: [] });
      for (const [k, v] of Object.entries(attributes)) {
        expect(set[k]).toBe(v);
        expect(created.attributes[k]).toBe(v);
        expect(imported.config.storageObjects[0].attributes[k]).toBe(v);
      }
    } finally {
      await engine.shutdown();
    }
  });

  it("a value Portico fixes: set and create refuse it, import reports it not honoured and goes on", async () => {
    const engine = createEngine();
    try {
      await engine.createStorageObject({ plugin: "ramdisk", name: "rd0", size: MiB });
      const bySet = await refusal(() => engine.setStorageObjectAttributes("ramdisk", "rd0", { emulate_dpo: 0 }));
      expect(bySet).toMatch(/emulate_dpo can only be 1/);
      expect(await refusal(() => engine.createStorageObject({ plugin: "ramdisk", name: "rd1", size: MiB, attributes: { emulate_dpo: 0 } }))).toBe(bySet);
      const parsed = parseSaveconfig({ storage_objects: [{ plugin: "rd_mcp", name: "rd2", size: MiB, attributes: { emulate_dpo: 0 } }], targets: [] });
      expect(parsed.notHonoured.join("\n")).toContain("storage_objects[0].attributes.emulate_dpo=0 not honoured: deprecated in LIO");
      expect(parsed.config.storageObjects[0].attributes.emulate_dpo).toBeUndefined();
    } finally {
      await engine.shutdown();
    }
  });
});

describe("iSCSI names: one rule, two strictnesses", () => {
  it("a configured name follows rtslib (a targetcli file imports), a login name RFC 7143 to the letter", async () => {
    const { iscsiNameProblem, normalizeIscsiName } = await import("@/server/engine/core/names");
    // rtslib takes any non-blank, non-'_' character after iqn.YYYY-MM.; RFC 7143 §4.2.7 does not.
    expect(iscsiNameProblem("iqn.2024-01.org.example:a@b", "config")).toBeUndefined();
    expect(iscsiNameProblem("iqn.2024-01.org.example:a@b", "login")).toMatch(/character/);
    // naa. in its 32-digit form: RFC 7143 yes, rtslib no.
    expect(iscsiNameProblem(`naa.6${"0".repeat(31)}`, "login")).toBeUndefined();
    expect(iscsiNameProblem(`naa.6${"0".repeat(31)}`, "config")).toMatch(/expected iqn/);
    // Both: the year-month and the 223-byte limit (one check, one message).
    for (const s of ["config", "login"] as const) {
      expect(iscsiNameProblem("iqn.2024-13.org.example:x", s)).toMatch(/month/);
      expect(iscsiNameProblem(`iqn.2024-01.org.example:${"x".repeat(200)}`, s)).toBe("the name is longer than 223 bytes");
    }
    expect(() => normalizeIscsiName(`iqn.2024-01.org.example:${"x".repeat(200)}`)).toThrow(/is not a valid iSCSI name: the name is longer than 223 bytes$/);
    expect(normalizeIscsiName("  IQN.2024-01.ORG.Example:T1 ")).toBe("iqn.2024-01.org.example:t1");
  });
});
