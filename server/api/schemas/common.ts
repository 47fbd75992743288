/**
 * Input schemas shared by the API and the console's forms (pure zod, safe to
 * import in the browser). Messages are written to be shown next to the field.
 */
import { z } from "zod";
import { aclTagReason, iscsiNameReason } from "../../engine/core/names";

/**
 * One wording for the rules every schema shares, in the API and in the console's forms alike
 * (zod's defaults read "Invalid input: expected number, received NaN"). A schema's own message
 * still wins.
 */
z.config({
  customError: (iss) => {
    if (iss.code === "invalid_type") {
      if (iss.input === undefined || iss.input === null || iss.input === "") return "required";
      if (iss.expected === "number" || iss.expected === "int") return "enter a number";
    }
    if (iss.code === "too_big" && (iss.origin === "number" || iss.origin === "int")) return `too large: at most ${Number(iss.maximum).toLocaleString("en-US")}`;
    if (iss.code === "too_small" && (iss.origin === "number" || iss.origin === "int")) return `too small: at least ${Number(iss.minimum).toLocaleString("en-US")}`;
    if (iss.code === "too_big" && iss.origin === "string") return `at most ${iss.maximum} characters`;
    if (iss.code === "too_small" && iss.origin === "string") return Number(iss.minimum) <= 1 ? "required" : `at least ${iss.minimum} characters`;
    return undefined;
  },
});

/** The largest size the console, the API and the engine take: 2^53 bytes (8 PiB), JavaScript's exact integers. */
export const MAX_SIZE_BYTES = Number.MAX_SAFE_INTEGER;
export const SIZE_TOO_LARGE = "above the limit: at most 8 PiB";

/** An iSCSI name (target `wwn` or initiator name): trimmed, then validated by the engine's rule, with its reason. */
export const iscsiNameSchema = z
  .string()
  .trim()
  .min(1, "required")
  .superRefine((v, ctx) => {
    const reason = iscsiNameReason(v);
    if (reason) ctx.addIssue({ code: "custom", message: `not a valid iSCSI name: ${reason}` });
  });

/** An ACL tag (initiator group; not the TPG's tag): trimmed, then the engine's rule (aclTagReason). */
export const aclTagSchema = z
  .string()
  .trim()
  .superRefine((v, ctx) => {
    const reason = aclTagReason(v);
    if (reason) ctx.addIssue({ code: "custom", message: reason });
  });

export const tpgTagSchema = z.number().int().min(1, "TPG tags start at 1").max(65535, "TPG tags end at 65535");
export const lunIndexSchema = z.number().int().min(0, "LUNs start at 0").max(65535, "LUNs end at 65535");
export const unitSerialSchema = z
  .string()
  .trim()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, "a unit serial is a UUID");

export const tpgRefSchema = z.object({ wwn: iscsiNameSchema, tag: tpgTagSchema });

/** RFC 7143 §12.1.3 recommends CHAP secrets of at least 96 bits; LIO stores up to 255 characters. */
const secretSchema = z
  .string()
  .min(12, "CHAP secrets must be 12 to 255 characters (RFC 7143 recommends at least 12)")
  .max(255, "CHAP secrets must be 12 to 255 characters")
  .refine((v) => v !== "NULL" && !/[\x00-\x1f]/.test(v), { message: "not NULL, no control characters" });
const useridSchema = z
  .string()
  .min(1, "required")
  .max(255, "at most 255 characters")
  .refine((v) => v !== "NULL" && !/[\x00-\x1f]/.test(v), { message: "not NULL, no control characters" });

/** CHAP credentials: userid + password (one-way), plus mutualUserid + mutualPassword (mutual). Omit all to clear. */
export const chapSchema = z
  .object({
    userid: useridSchema.optional(),
    password: secretSchema.optional(),
    mutualUserid: useridSchema.optional(),
    mutualPassword: secretSchema.optional(),
  })
  .refine((c) => Boolean(c.userid) === Boolean(c.password), { message: "userid and password go together", path: ["password"] })
  .refine((c) => Boolean(c.mutualUserid) === Boolean(c.mutualPassword), { message: "mutualUserid and mutualPassword go together", path: ["mutualPassword"] })
  .refine((c) => !c.mutualUserid || Boolean(c.userid), { message: "mutual CHAP needs the one-way credentials too", path: ["userid"] })
  .refine((c) => !c.password || c.password !== c.mutualPassword, { message: "the mutual password must differ from the initiator's", path: ["mutualPassword"] });
