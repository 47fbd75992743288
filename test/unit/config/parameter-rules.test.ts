/**
 * One rulebook for iSCSI TPG parameters (issue 9 item 5): the RFC 7143 key table in
 * iscsi/negotiation.ts is the only statement of each key's type, values and range; core/defaults
 * derives the TPG parameter rules from it, and the engine, saveconfig import, the API/console's
 * zod schema and the console's choices all use those rules. Before, defaults.ts held its own
 * copy of the table, the console a third copy of the list values, and the zod schema accepted any
 * value (the form only learnt of a bad value from the server).
 */
import { describe, expect, it } from "vitest";
import { setTpgParametersSchema } from "@/server/api/schemas/targets";
import { checkTpgParameter } from "@/server/engine/core/engine";
import { tpgParameterChoices, tpgParameterDefaults, tpgParameterProblem, tpgParameterRules } from "@/server/engine/core/defaults";
import { KEY_TABLE } from "@/server/engine/iscsi/negotiation";

const wwn = "iqn.2003-01.org.linux-iscsi.test:sn.1";

describe("TPG parameter rules come from the RFC key table", () => {
  it("every RFC key a TPG carries takes its values and range from KEY_TABLE (the same objects, not copies)", () => {
    let checked = 0;
    for (const [name, rule] of Object.entries(tpgParameterRules)) {
      const def = KEY_TABLE[name];
      if (!def || rule.kind === "fixed") continue;
      if (rule.kind === "list") expect(rule.values, name).toBe(def.values);
      if (rule.kind === "number") expect(rule.range, name).toBe(def.range);
      if (rule.kind === "bool") expect(["and", "or"], name).toContain(def.kind);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(12);
    // LIO's own parameter (not an RFC key) shares MaxRecvDataSegmentLength's range.
    expect(tpgParameterRules.MaxXmitDataSegmentLength).toEqual({ kind: "number", range: KEY_TABLE.MaxRecvDataSegmentLength.range });
  });

  it("has a rule for every TPG parameter, and every default passes its own rule", () => {
    expect(Object.keys(tpgParameterRules).sort()).toEqual(Object.keys(tpgParameterDefaults).sort());
    for (const [k, v] of Object.entries(tpgParameterDefaults)) expect(tpgParameterProblem(k, v), k).toBeUndefined();
  });

  it("refuses what the key table does not allow, with the engine's words", () => {
    expect(tpgParameterProblem("MaxBurstLength", "511")).toBe("iSCSI parameter MaxBurstLength must be a number in 512..16777215");
    expect(tpgParameterProblem("HeaderDigest", "CRC32C,MD5")).toMatch(/comma-separated list of CRC32C, None/);
    expect(tpgParameterProblem("ErrorRecoveryLevel", "1")).toMatch(/can only be 0: only ErrorRecoveryLevel 0/);
    expect(tpgParameterProblem("ImmediateData", "yes")).toBe("iSCSI parameter ImmediateData must be Yes or No");
    expect(tpgParameterProblem("Nonsense", "1")).toBe('unknown iSCSI parameter "Nonsense"');
    expect(() => checkTpgParameter("MaxBurstLength", "511")).toThrow("iSCSI parameter MaxBurstLength must be a number in 512..16777215");
  });

  it("the console's choices of a list key are every ordering of the table's values", () => {
    expect(tpgParameterChoices("AuthMethod")).toEqual(["CHAP,None", "None,CHAP", "CHAP", "None"]);
    expect(tpgParameterChoices("DataDigest")).toEqual(["CRC32C,None", "None,CRC32C", "CRC32C", "None"]);
    expect(tpgParameterChoices("InitialR2T")).toEqual(["Yes", "No"]);
    expect(tpgParameterChoices("MaxBurstLength")).toBeUndefined();
  });
});

describe("the form and the API refuse the same parameter values (one zod schema)", () => {
  it("refuses an out-of-range value at the parameter's field, before reaching the server", () => {
    const r = setTpgParametersSchema.safeParse({ wwn, tag: 1, parameters: { MaxBurstLength: "511", FirstBurstLength: "65536" } });
    expect(r.success).toBe(false);
    const issues = r.error!.issues.map((i) => [i.path.join("."), i.message]);
    expect(issues).toEqual([["parameters.MaxBurstLength", "iSCSI parameter MaxBurstLength must be a number in 512..16777215"]]);
  });

  it("refuses an unknown key and a fixed key's other value; accepts valid values", () => {
    expect(setTpgParametersSchema.safeParse({ wwn, tag: 1, parameters: { MaxConnections: "2" } }).success).toBe(false);
    expect(setTpgParametersSchema.safeParse({ wwn, tag: 1, parameters: { Bogus: "1" } }).success).toBe(false);
    expect(setTpgParametersSchema.safeParse({ wwn, tag: 1, parameters: { MaxBurstLength: "1048576", HeaderDigest: "None,CRC32C", TargetAlias: "disk shelf 2" } }).success).toBe(true);
  });
});
