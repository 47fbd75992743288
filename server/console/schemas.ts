/**
 * The onboarding wizard's steps as zod schemas (browser-safe): each step's form
 * validates with its schema, and the API validates the whole with `onboardingSchema`.
 * Field paths (`storage.size`, `target.port`…) are what the API reports in `data.field`.
 */
import { z } from "zod";
import { aclTagSchema, iscsiNameSchema, MAX_SIZE_BYTES, SIZE_TOO_LARGE } from "../api/schemas/common";
import { iscsiNameReason } from "../engine/core/names";
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
    .regex(/^iqn\.\d{4}-\d{2}\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "expected iqn.YYYY-MM.reversed.domain (without ':')")
    .superRefine((v, ctx) => {
      const reason = iscsiNameReason(v);
      if (reason) ctx.addIssue({ code: "custom", message: `not a valid iSCSI name: ${reason}` });
    }),
});

const sizeSchema = z.number({ message: "enter a size" }).max(MAX_SIZE_BYTES, SIZE_TOO_LARGE).int("a whole number of bytes").min(1024 * 1024, "at least 1 MiB");

const ramdiskStorageSchema = z.object({ kind: z.literal("ramdisk"), name: storageObjectNameSchema, size: sizeSchema });
const fileioStorageSchema = z.object({
  kind: z.literal("fileio"),
  name: storageObjectNameSchema,
  dev: z.string().trim().min(1, "required").startsWith("/", "an absolute path"),
  /** Absent: use the existing file as it is. */
  size: sizeSchema.optional(),
  /** A sparse size beyond the file system's free space is confirmed (docs/configuration.md). */
  overcommit: z.boolean().optional(),
});
const blockStorageSchema = z.object({ kind: z.literal("block"), name: storageObjectNameSchema, dev: z.string().trim().min(1, "pick a device").startsWith("/dev/", "a device under /dev") });

export const onboardingStorageSchema = z.discriminatedUnion("kind", [z.object({ kind: z.literal("none") }), ramdiskStorageSchema, fileioStorageSchema, blockStorageSchema]);

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

// ---- the New target wizard (the onboarding flow for every further target) --------------------

/** What the initiator platform expects of the storage, set on a new storage object by the wizard. */
export const TARGET_PRESETS = {
  esxi: {
    title: "VMware ESXi",
    expects:
      "VAAI: hardware-assisted locking (COMPARE AND WRITE, emulate_caw), full copy (XCOPY, emulate_3pc), UNMAP and WRITE SAME with unmap (emulate_tpu, emulate_tpws) so VMFS can reclaim space; 512-byte blocks.",
    attributes: { emulate_caw: 1, emulate_3pc: 1, emulate_tpu: 1, emulate_tpws: 1, block_size: 512 },
  },
  windows: {
    title: "Windows",
    expects:
      "Persistent reservations (emulate_pr) for Failover Clustering and Cluster Shared Volumes; UNMAP (emulate_tpu) for Optimize-Volume's retrim; 512-byte blocks.",
    attributes: { emulate_pr: 1, emulate_tpu: 1, emulate_tpws: 0, block_size: 512 },
  },
  linux: {
    title: "Linux",
    expects: "UNMAP and WRITE SAME with unmap (emulate_tpu, emulate_tpws) so fstrim and discard keep a thin file thin; persistent reservations for pacemaker fencing (emulate_pr).",
    attributes: { emulate_tpu: 1, emulate_tpws: 1, emulate_pr: 1 },
  },
  other: { title: "Other", expects: "LIO's defaults.", attributes: {} },
} as const satisfies Record<string, { title: string; expects: string; attributes: Record<string, number> }>;
export type TargetPreset = keyof typeof TARGET_PRESETS;

export const targetStorageSchema = z.discriminatedUnion("kind", [
  ramdiskStorageSchema,
  fileioStorageSchema,
  blockStorageSchema,
  /** A storage object that already exists: `/backstores/<plugin>/<name>`. */
  z.object({ kind: z.literal("existing"), path: z.string().regex(/^\/backstores\/(ramdisk|fileio|block)\/[^\s/]{1,64}$/, "pick a storage object") }),
]);
export type TargetStorage = z.infer<typeof targetStorageSchema>;

export const targetWizardSchema = z.object({
  preset: z.enum(["esxi", "windows", "linux", "other"]),
  storage: targetStorageSchema,
  target: onboardingTargetSchema,
  access: onboardingAccessSchema,
  /** The ACL tag (initiator group) given to every ACL the wizard creates. */
  aclTag: aclTagSchema.optional(),
  /** CIDR blocks logins may come from; empty: any (the engine parses them fully). */
  allowedNetworks: z
    .array(
      z
        .string()
        .trim()
        .regex(/^((\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(\/\d{1,3})?)$/, "a network like 192.168.1.0/24 or fd00::/64"),
    )
    .max(64, "at most 64 networks"),
});
export type TargetWizardInput = z.infer<typeof targetWizardSchema>;
