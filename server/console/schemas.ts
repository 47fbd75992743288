/**
 * The onboarding wizard's steps as zod schemas (browser-safe): each step's form
 * validates with its schema, and the API validates the whole with `onboardingSchema`.
 * Field paths (`storage.size`, `target.port`…) are what the API reports in `data.field`.
 */
import { z } from "zod";
import { iscsiNameSchema } from "../api/schemas/common";
import { storageObjectNameSchema } from "../api/schemas/storage";
import { adminAccountSchema } from "../auth/schemas";

export const applianceSchema = z.object({
  name: z
    .string()
    .trim()
    .min(1, "required")
    .max(63, "at most 63 characters")
    .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, "letters, digits, spaces, '.', '-' and '_'"),
  /** Target names are `<prefix>:sn.<12 hex>`. */
  iqnPrefix: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^iqn\.\d{4}-\d{2}\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "expected iqn.YYYY-MM.reversed.domain (without ':')"),
});

const sizeSchema = z.number({ message: "enter a size" }).int("a whole number of bytes").min(1024 * 1024, "at least 1 MiB");

export const onboardingStorageSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("none") }),
  z.object({ kind: z.literal("ramdisk"), name: storageObjectNameSchema, size: sizeSchema }),
  z.object({
    kind: z.literal("fileio"),
    name: storageObjectNameSchema,
    dev: z.string().trim().min(1, "required").startsWith("/", "an absolute path"),
    /** Absent: use the existing file as it is. */
    size: sizeSchema.optional(),
  }),
  z.object({ kind: z.literal("block"), name: storageObjectNameSchema, dev: z.string().trim().min(1, "pick a device").startsWith("/dev/", "a device under /dev") }),
]);

export const portalIpSchema = z
  .string()
  .trim()
  .refine((v) => /^(\d{1,3}\.){3}\d{1,3}$/.test(v) || /^\[?[0-9a-fA-F:.]*:[0-9a-fA-F:.]*\]?$/.test(v), { message: "an IPv4 or IPv6 address" });
export const portSchema = z.number({ message: "enter a port" }).int("a whole number").min(1, "1 to 65535").max(65535, "1 to 65535");

export const onboardingTargetSchema = z.object({ wwn: iscsiNameSchema, ip: portalIpSchema, port: portSchema });

const chapUserSchema = z.string().trim().min(1, "required").max(255).regex(/^\S+$/, "no spaces");
const chapSecretSchema = z.string().min(12, "12 to 255 characters (Windows accepts 12 to 16)").max(255, "at most 255 characters").regex(/^\S+$/, "no spaces");

export const initiatorAccessSchema = z
  .object({
    name: iscsiNameSchema,
    auth: z.enum(["none", "chap", "mutual"]),
    userid: z.string().optional(),
    password: z.string().optional(),
    mutualUserid: z.string().optional(),
    mutualPassword: z.string().optional(),
  })
  .superRefine((v, ctx) => {
    const need = (key: "userid" | "password" | "mutualUserid" | "mutualPassword", schema: z.ZodType) => {
      const r = schema.safeParse(v[key] ?? "");
      if (!r.success) ctx.addIssue({ code: "custom", path: [key], message: r.error.issues[0].message });
    };
    if (v.auth !== "none") {
      need("userid", chapUserSchema);
      need("password", chapSecretSchema);
    }
    if (v.auth === "mutual") {
      need("mutualUserid", chapUserSchema);
      need("mutualPassword", chapSecretSchema);
      if (v.mutualPassword && v.mutualPassword === v.password) ctx.addIssue({ code: "custom", path: ["mutualPassword"], message: "must differ from the initiator's secret" });
    }
  });

export const onboardingAccessSchema = z.discriminatedUnion("mode", [
  z.object({ mode: z.literal("open") }),
  z.object({
    mode: z.literal("acls"),
    initiators: z
      .array(initiatorAccessSchema)
      .min(1, "add at least one initiator")
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((i, n) => {
          const k = i.name.trim().toLowerCase();
          if (seen.has(k)) ctx.addIssue({ code: "custom", path: [n, "name"], message: "this initiator is listed twice" });
          seen.add(k);
        });
      }),
  }),
]);

export const onboardingSchema = z
  .object({
    admin: adminAccountSchema,
    appliance: applianceSchema,
    storage: onboardingStorageSchema,
    target: onboardingTargetSchema.optional(),
    access: onboardingAccessSchema.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.storage.kind !== "none" && !v.target) ctx.addIssue({ code: "custom", path: ["target", "wwn"], message: "required" });
    if (v.storage.kind !== "none" && !v.access) ctx.addIssue({ code: "custom", path: ["access", "mode"], message: "required" });
  });
export type OnboardingInput = z.infer<typeof onboardingSchema>;
export type OnboardingStorage = z.infer<typeof onboardingStorageSchema>;
export type OnboardingAccess = z.infer<typeof onboardingAccessSchema>;

/** A new target name under a prefix: `<prefix>:sn.<12 hex>` as targetcli generates them. */
export function targetNameFor(prefix: string, random: Uint8Array): string {
  const hex = [...random.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${prefix}:sn.${hex}`;
}
