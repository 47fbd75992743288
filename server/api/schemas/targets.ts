import { z } from "zod";
import { aclTagSchema, chapSchema, iscsiNameSchema, lunIndexSchema, tpgRefSchema, tpgTagSchema } from "./common";
import { tpgParameterProblem } from "../../engine/core/defaults";
import { nodeNameReason } from "../../engine/core/names";

export const createTargetSchema = z.object({
  /** Generated (iqn.2003-01.org.linux-iscsi.<host>.<arch>:sn.<hex>) when absent. */
  wwn: iscsiNameSchema.optional(),
  /** Also create tpg1, enabled (targetcli's behaviour). Default true. */
  tpg: z.boolean().optional(),
});
export const targetRefSchema = z.object({ wwn: iscsiNameSchema });

export const createTpgSchema = z.object({ wwn: iscsiNameSchema, tag: tpgTagSchema.optional() });
/** A network (CIDR) logins may come from: the engine parses it fully (core/networks.ts); this catches typing slips at the field. */
export const networkSchema = z
  .string()
  .trim()
  .regex(/^((\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(\/\d{1,3})?)$/, "a network like 192.168.1.0/24 or fd00::/64");
export const allowedNetworksSchema = z.array(networkSchema).max(64, "at most 64 networks");
export const setTpgAllowedNetworksSchema = tpgRefSchema.extend({ networks: allowedNetworksSchema });
/** The cluster node that serves the TPG: a host name label, or null for any. */
export const setTpgNodeSchema = tpgRefSchema.extend({
  node: z
    .string()
    .trim()
    .toLowerCase()
    .superRefine((v, ctx) => {
      const reason = nodeNameReason(v);
      if (reason) ctx.addIssue({ code: "custom", message: `not a valid node name: ${reason}` });
    })
    .nullable(),
});
export const setTpgEnabledSchema = tpgRefSchema.extend({ enabled: z.boolean() });
export const setTpgAttributesSchema = tpgRefSchema.extend({
  attributes: z.record(z.string().regex(/^[a-z0-9_]+$/, "not an attribute name"), z.number().int("attributes are integers")),
});

export const createLunSchema = tpgRefSchema.extend({
  /** `/backstores/<plugin>/<name>`, `<plugin>/<name>` or a unique name. */
  storageObject: z.string().trim().min(1, "required"),
  index: lunIndexSchema.optional(),
  alias: z.string().regex(/^[^\s/]{1,64}$/, "1 to 64 characters, no spaces or '/'").optional(),
  /** targetcli add_mapped_luns: map the new LUN into every ACL (default: the auto_add_mapped_luns setting). */
  addMappedLuns: z.boolean().optional(),
});
export const lunRefSchema = tpgRefSchema.extend({ index: lunIndexSchema });

const ipSchema = z
  .string()
  .trim()
  .refine((v) => /^(\d{1,3}\.){3}\d{1,3}$/.test(v) || /^\[?[0-9a-fA-F:.]*:[0-9a-fA-F:.]*\]?$/.test(v), { message: "an IPv4 or IPv6 address" });
export const portalSchema = tpgRefSchema.extend({ ip: ipSchema, port: z.number().int().min(1).max(65535).default(3260) });

export const createNodeAclSchema = tpgRefSchema.extend({
  initiatorName: iscsiNameSchema,
  aclTag: aclTagSchema.optional(),
  cmdsnDepth: z.number().int().min(1).max(512).optional(),
  attributes: z.record(z.string().regex(/^[a-z0-9_]+$/), z.number().int()).optional(),
  chap: chapSchema.optional(),
  /** Also set authentication=1 on the TPG in the same change, so the credentials are enforced. */
  requireChap: z.boolean().optional(),
  /** targetcli add_mapped_luns: map every TPG LUN at its own index (default: the auto_add_mapped_luns setting). */
  addMappedLuns: z.boolean().optional(),
});
export const nodeAclRefSchema = tpgRefSchema.extend({ initiatorName: iscsiNameSchema });
export const updateNodeAclSchema = nodeAclRefSchema.extend({
  /** null removes the tag. */
  aclTag: aclTagSchema.nullable().optional(),
  cmdsnDepth: z.number().int().min(1).max(512).optional(),
  attributes: z.record(z.string().regex(/^[a-z0-9_]+$/, "not an attribute name"), z.number().int()).optional(),
});
export const setNodeAclAuthSchema = nodeAclRefSchema.extend({
  chap: chapSchema,
  /** Also set authentication=1 on the TPG in the same change, so the credentials are enforced. */
  requireChap: z.boolean().optional(),
});
export const setTpgAuthSchema = tpgRefSchema.extend({
  chap: chapSchema,
  /** Also set authentication=1 on the TPG in the same change, so the credentials are enforced. */
  requireChap: z.boolean().optional(),
});
/** Each value is checked by the engine's rule (core/defaults tpgParameterProblem, from the RFC key table), so the form shows at the field what the API refuses. */
export const setTpgParametersSchema = tpgRefSchema.extend({
  parameters: z
    .record(z.string().regex(/^[A-Za-z0-9]+$/, "not a parameter name"), z.string().max(255))
    .superRefine((parameters, ctx) => {
      for (const [name, value] of Object.entries(parameters)) {
        const problem = tpgParameterProblem(name, value);
        if (problem) ctx.addIssue({ code: "custom", path: [name], message: problem });
      }
    }),
});

export const createMappedLunSchema = nodeAclRefSchema.extend({
  index: lunIndexSchema,
  tpgLun: lunIndexSchema,
  writeProtect: z.boolean().optional(),
  alias: z.string().regex(/^[^\s/]{1,64}$/).optional(),
});
export const mappedLunRefSchema = nodeAclRefSchema.extend({ index: lunIndexSchema });
export const setMappedLunWriteProtectSchema = mappedLunRefSchema.extend({ writeProtect: z.boolean() });
