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
  setTpgAttributesSchema,
  setTpgEnabledSchema,
  targetRefSchema,
} from "../schemas/targets";
import { procedure, router } from "../trpc";
import { configTree } from "../tree";

const tpgsRouter = router({
  create: procedure.input(createTpgSchema).mutation(({ ctx, input }) => ctx.service.createTpg(input.wwn, input.tag)),
  delete: procedure.input(tpgRefSchema).mutation(({ ctx, input }) => ctx.service.deleteTpg(input.wwn, input.tag)),
  setEnabled: procedure.input(setTpgEnabledSchema).mutation(({ ctx, input }) => ctx.service.setTpgEnabled(input.wwn, input.tag, input.enabled)),
  setAttributes: procedure
    .input(setTpgAttributesSchema)
    .mutation(({ ctx, input }) => ctx.service.setTpgAttributes(input.wwn, input.tag, input.attributes)),
});

const lunsRouter = router({
  create: procedure
    .input(createLunSchema)
    .mutation(({ ctx, input }) => ctx.service.createLun(input.wwn, input.tag, input.storageObject, { index: input.index, alias: input.alias })),
  delete: procedure.input(lunRefSchema).mutation(({ ctx, input }) => ctx.service.deleteLun(input.wwn, input.tag, input.index)),
});

const portalsRouter = router({
  create: procedure.input(portalSchema).mutation(({ ctx, input }) => ctx.service.createPortal(input.wwn, input.tag, input.ip, input.port)),
  delete: procedure.input(portalSchema).mutation(({ ctx, input }) => ctx.service.deletePortal(input.wwn, input.tag, input.ip, input.port)),
});

const aclsRouter = router({
  create: procedure
    .input(createNodeAclSchema)
    .mutation(({ ctx, input }) => ctx.service.createNodeAcl(input.wwn, input.tag, input.initiatorName, { tag: input.aclTag, cmdsnDepth: input.cmdsnDepth })),
  delete: procedure.input(nodeAclRefSchema).mutation(({ ctx, input }) => ctx.service.deleteNodeAcl(input.wwn, input.tag, input.initiatorName)),
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
});

export const targetsRouter = router({
  list: procedure.query(({ ctx }) => configTree(ctx.service).targets),
  create: procedure.input(createTargetSchema).mutation(({ ctx, input }) => ctx.service.createTarget(input)),
  delete: procedure.input(targetRefSchema).mutation(({ ctx, input }) => ctx.service.deleteTarget(input.wwn)),
  tpgs: tpgsRouter,
  luns: lunsRouter,
  portals: portalsRouter,
  acls: aclsRouter,
  mappedLuns: mappedLunsRouter,
});
