/**
 * Input schemas shared by the API and the console's forms (pure zod, safe to
 * import in the browser). Messages are written to be shown next to the field.
 */
import { z } from "zod";
import { isValidIscsiName } from "../../engine/core/names";

const ISCSI_NAME_HINT = "expected iqn.YYYY-MM.reversed.domain[:identifier], naa.<16 hex> or eui.<16 hex>";

/** An iSCSI name (target `wwn` or initiator name): trimmed, then validated as the engine does. */
export const iscsiNameSchema = z
  .string()
  .trim()
  .min(1, "required")
  .refine((v) => isValidIscsiName(v), { message: `not a valid iSCSI name: ${ISCSI_NAME_HINT}` });

export const tpgTagSchema = z.number().int().min(1, "TPG tags start at 1").max(65535, "TPG tags end at 65535");
export const lunIndexSchema = z.number().int().min(0, "LUNs start at 0").max(65535, "LUNs end at 65535");
export const unitSerialSchema = z
  .string()
  .trim()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, "a unit serial is a UUID");

export const tpgRefSchema = z.object({ wwn: iscsiNameSchema, tag: tpgTagSchema });
