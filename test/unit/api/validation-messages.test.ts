/** One wording for validation everywhere: IQN rules from one function, numbers, sizes above the limit. */
import { describe, expect, it } from "vitest";
import { iscsiNameSchema } from "@/server/api/schemas/common";
import { createStorageObjectSchema } from "@/server/api/schemas/storage";
import { portalSchema } from "@/server/api/schemas/targets";
import { applianceSchema, onboardingStorageSchema } from "@/server/console/schemas";
import { iscsiNameReason, normalizeIscsiName } from "@/server/engine/core/names";

const first = (r: { success: boolean; error?: { issues: { message: string }[] } }) => r.error?.issues[0]?.message;

describe("validation messages", () => {
  it("an IQN with month 13 or 00 is refused by the engine, the API schema and the onboarding prefix alike", () => {
    for (const bad of ["iqn.2024-13.com.example:t", "iqn.2024-00.com.example:t"]) {
      expect(iscsiNameReason(bad)).toMatch(/month in iqn.YYYY-MM must be 01 to 12/);
      expect(() => normalizeIscsiName(bad)).toThrow(/is not a valid iSCSI name: the month/);
      expect(first(iscsiNameSchema.safeParse(bad))).toMatch(/^not a valid iSCSI name: the month/);
    }
    expect(first(applianceSchema.safeParse({ name: "lab", iqnPrefix: "iqn.2003-13.org.linux-iscsi.lab" }))).toMatch(/the month/);
    expect(iscsiNameSchema.safeParse("iqn.2024-12.com.example:t").success).toBe(true);
    expect(first(iscsiNameSchema.safeParse("bogus"))).toBe("not a valid iSCSI name: expected iqn.YYYY-MM.reversed.domain[:identifier], naa.<16 hex> or eui.<16 hex>");
  });

  it("no 'Invalid input: expected number, received NaN': an empty number field says what to do", () => {
    const r = portalSchema.safeParse({ wwn: "iqn.2024-01.com.example:t", tag: 1, ip: "127.0.0.1", port: Number.NaN });
    expect(first(r)).toBe("enter a number");
    expect(first(createStorageObjectSchema.safeParse({ plugin: "ramdisk", name: "x", size: Number.NaN }))).toBe("enter a number");
    expect(first(portalSchema.safeParse({ wwn: "iqn.2024-01.com.example:t", tag: 1, ip: "127.0.0.1", port: 70000 }))).toBe("too large: at most 65,535");
  });

  it("a size above the limit is named as such, in the API and in onboarding", () => {
    expect(first(createStorageObjectSchema.safeParse({ plugin: "ramdisk", name: "x", size: 2 ** 60 }))).toBe("above the limit: at most 8 PiB");
    expect(first(onboardingStorageSchema.safeParse({ kind: "ramdisk", name: "x", size: 2 ** 60 }))).toBe("above the limit: at most 8 PiB");
    expect(first(createStorageObjectSchema.safeParse({ plugin: "ramdisk", name: "x", size: 1.5 }))).toBe("size is a whole number of bytes");
  });
});
