import { tpgRefSchema } from "../schemas/common";
import {
  createLunSchema,
  createMappedLunSchema,
  createNodeAclSchema,
  createTargetSchema,
  createTpgSchema,
  lunRefSchema,
  mappedLunRefSchema,
  nodeAclRefSchema,
  portalSchema,
  setMappedLunWriteProtectSchema,
  setNodeAclAuthSchema,
  setTpgAttributesSchema,
  setTpgAuthSchema,
  setTpgAllowedNetworksSchema,
  setTpgNodeSchema,
  setTpgEnabledSchema,
  setTpgParametersSchema,
  targetRefSchema,
  updateNodeAclSchema,
} from "../schemas/targets";
import type { ChapCredentials } from "../../engine/core/model";
import { EngineError } from "../../engine/core/errors";
import { addresses } from "../../console/host";
import { buildInstructions } from "../../console/instructions";
import { z } from "zod";
import { procedure, router } from "../trpc";
import { configTree } from "../tree";

/** CHAP as the API shows it: user names, and only whether each password is set (never the secret). */
export function chapView(c: ChapCredentials) {
  return { userid: c.userid ?? null, passwordSet: Boolean(c.password), mutualUserid: c.mutualUserid ?? null, mutualPasswordSet: Boolean(c.mutualPassword) };
}

const tpgsRouter = router({
  create: procedure.input(createTpgSchema).mutation(({ ctx, input }) => ctx.service.createTpg(input.wwn, input.tag)),
  delete: procedure.input(tpgRefSchema).mutation(({ ctx, input }) => ctx.service.deleteTpg(input.wwn, input.tag)),
  setEnabled: procedure.input(setTpgEnabledSchema).mutation(({ ctx, input }) => ctx.service.setTpgEnabled(input.wwn, input.tag, input.enabled)),
  setAttributes: procedure
    .input(setTpgAttributesSchema)
    .mutation(({ ctx, input }) => ctx.service.setTpgAttributes(input.wwn, input.tag, input.attributes)),
  /** Attributes and iSCSI parameters in force (LIO defaults included). */
  get: procedure.input(tpgRefSchema).query(({ ctx, input }) => {
    const tpg = ctx.engine.tpg(input.wwn, input.tag);
    return { tag: tpg.tag, enabled: tpg.enabled, attributes: { ...tpg.attributes }, parameters: { ...tpg.parameters }, chap: chapView(tpg.chap), allowedNetworks: tpg.allowedNetworks.map((c) => c.text) };
  }),
  setParameters: procedure
    .input(setTpgParametersSchema)
    .mutation(({ ctx, input }) => ctx.service.setTpgParameters(input.wwn, input.tag, input.parameters)),
  /** Networks (CIDR) logins may come from; [] allows any. Refused logins get Authorization Failure (0202) and a login_failed event. */
  setAllowedNetworks: procedure
    .input(setTpgAllowedNetworksSchema)
    .mutation(({ ctx, input }) => ctx.service.setTpgAllowedNetworks(input.wwn, input.tag, input.networks)),
  /** The cluster node that serves the TPG (null: any node that has it; a single appliance serves every TPG). */
  setNode: procedure
    .input(setTpgNodeSchema)
    .mutation(({ ctx, input }) => ctx.service.setTpgNode(input.wwn, input.tag, input.node ?? undefined).then((n) => n ?? null)),
  /** TPG CHAP (demo mode). Passwords are write-only. */
  setAuth: procedure.input(setTpgAuthSchema).mutation(({ ctx, input }) => ctx.service.setTpgAuth(input.wwn, input.tag, input.chap, { requireChap: input.requireChap })),
});

const lunsRouter = router({
  create: procedure
    .input(createLunSchema)
    .mutation(({ ctx, input }) =>
      ctx.service.createLun(input.wwn, input.tag, input.storageObject, { index: input.index, alias: input.alias, addMappedLuns: input.addMappedLuns }),
    ),
  delete: procedure.input(lunRefSchema).mutation(({ ctx, input }) => ctx.service.deleteLun(input.wwn, input.tag, input.index)),
});

const portalsRouter = router({
  create: procedure.input(portalSchema).mutation(({ ctx, input }) => ctx.service.createPortal(input.wwn, input.tag, input.ip, input.port)),
  delete: procedure.input(portalSchema).mutation(({ ctx, input }) => ctx.service.deletePortal(input.wwn, input.tag, input.ip, input.port)),
});

const aclsRouter = router({
  create: procedure
    .input(createNodeAclSchema)
    .mutation(({ ctx, input }) =>
      ctx.service.createNodeAcl(input.wwn, input.tag, input.initiatorName, {
        aclTag: input.aclTag,
        cmdsnDepth: input.cmdsnDepth,
        attributes: input.attributes,
        chap: input.chap,
        addMappedLuns: input.addMappedLuns,
        requireChap: input.requireChap,
      }),
    ),
  delete: procedure.input(nodeAclRefSchema).mutation(({ ctx, input }) => ctx.service.deleteNodeAcl(input.wwn, input.tag, input.initiatorName)),
  get: procedure.input(nodeAclRefSchema).query(({ ctx, input }) => {
    const acl = ctx.engine.nodeAcl(input.wwn, input.tag, input.initiatorName);
    return {
      initiatorName: acl.initiatorName,
      aclTag: acl.aclTag ?? null,
      cmdsnDepth: acl.cmdsnDepth,
      attributes: { ...acl.attributes },
      chap: chapView(acl.chap),
      mappedLuns: [...acl.mappedLuns.values()].map((m) => ({ index: m.index, tpgLun: m.tpgLun, writeProtect: m.writeProtect, alias: m.alias })),
    };
  }),
  /** ACL tag (null removes it), cmdsn_depth, attributes (nopin_timeout, ...). */
  update: procedure.input(updateNodeAclSchema).mutation(({ ctx, input }) =>
    ctx.service.updateNodeAcl(input.wwn, input.tag, input.initiatorName, { aclTag: input.aclTag, cmdsnDepth: input.cmdsnDepth, attributes: input.attributes }),
  ),
  /** Per-ACL CHAP. Passwords are write-only. */
  setAuth: procedure.input(setNodeAclAuthSchema).mutation(({ ctx, input }) => ctx.service.setNodeAclAuth(input.wwn, input.tag, input.initiatorName, input.chap, { requireChap: input.requireChap })),
});

const mappedLunsRouter = router({
  create: procedure.input(createMappedLunSchema).mutation(({ ctx, input }) =>
    ctx.service.createMappedLun(input.wwn, input.tag, input.initiatorName, {
      index: input.index,
      tpgLun: input.tpgLun,
      writeProtect: input.writeProtect,
      alias: input.alias,
    }),
  ),
  delete: procedure
    .input(mappedLunRefSchema)
    .mutation(({ ctx, input }) => ctx.service.deleteMappedLun(input.wwn, input.tag, input.initiatorName, input.index)),
  setWriteProtect: procedure
    .input(setMappedLunWriteProtectSchema)
    .mutation(({ ctx, input }) => ctx.service.setMappedLunWriteProtect(input.wwn, input.tag, input.initiatorName, input.index, input.writeProtect)),
});

/** Loopback names are no use to another machine: a wildcard portal is shown with the first LAN address instead. */
function wildcardHost(requested: string | undefined): string {
  const loopback = (h: string) => h === "localhost" || h === "::1" || h.startsWith("127.");
  if (requested && !loopback(requested)) return requested;
  return addresses().find((a) => !a.internal && a.family === "IPv4" && a.address !== "0.0.0.0")?.address ?? requested ?? "127.0.0.1";
}

const instructionsSchema = tpgRefSchema.extend({
  /** Only this initiator (a session's detail). */
  initiatorName: z.string().trim().min(1).max(223).optional(),
  /** The host name the console was reached by, for a wildcard portal. */
  host: z.string().trim().min(1).max(253).optional(),
  /** Return the CHAP secrets instead of masking them. */
  reveal: z.boolean().default(false),
});

export const targetsRouter = router({
  /** How initiators connect to a TPG as configured (server/console/instructions.ts); secrets masked unless `reveal`. */
  instructions: procedure.input(instructionsSchema).query(({ ctx, input }) => {
    const config = ctx.service.config();
    const target = config.targets.find((t) => t.wwn === input.wwn.toLowerCase());
    if (!target) throw new EngineError(`target ${input.wwn} does not exist`, "not_found", "wwn");
    const tpg = target.tpgs.find((g) => g.tag === input.tag);
    if (!tpg) throw new EngineError(`target ${input.wwn} has no tpg${input.tag}`, "not_found", "tag");
    return buildInstructions(
      { target: target.wwn, tpg, discoveryAuth: config.discoveryAuth },
      { wildcardHost: wildcardHost(input.host), reveal: input.reveal, initiatorName: input.initiatorName },
    );
  }),
  list: procedure.query(({ ctx }) => configTree(ctx.service).targets),
  create: procedure.input(createTargetSchema).mutation(({ ctx, input }) => ctx.service.createTarget(input)),
  delete: procedure.input(targetRefSchema).mutation(({ ctx, input }) => ctx.service.deleteTarget(input.wwn)),
  tpgs: tpgsRouter,
  luns: lunsRouter,
  portals: portalsRouter,
  acls: aclsRouter,
  mappedLuns: mappedLunsRouter,
});
