import {
  createStorageObjectSchema,
  deleteStorageObjectSchema,
  resizeStorageObjectSchema,
  setStorageObjectAttributesSchema,
  setStorageObjectIdentitySchema,
  storageObjectRefSchema,
} from "../schemas/storage";
import { procedure, router } from "../trpc";
import { configTree } from "../tree";

export const storageRouter = router({
  list: procedure.query(({ ctx }) => configTree(ctx.service).storageObjects),
  /** Every attribute with its live value, plus the INQUIRY identity (lio-model.md §2.1). */
  get: procedure.input(storageObjectRefSchema).query(({ ctx, input }) => {
    const so = ctx.engine.storageObject(input.plugin, input.name);
    return {
      path: so.path,
      size: so.sizeBytes,
      wwn: so.wwn,
      vendorId: so.vendorId,
      productId: so.productId,
      revision: so.revision,
      attributes: { ...so.attributes },
      exportedBy: [...so.exports].map((l) => ({ wwn: l.tpg.target.wwn, tag: l.tpg.tag, lun: l.index })),
    };
  }),
  create: procedure
    .input(createStorageObjectSchema)
    .mutation(({ ctx, input }) => ctx.service.createStorageObject(input.plugin === "rbd" ? { ...input, dev: input.config } : input)),
  /** With `deleteFile`, a fileio object's backing file is deleted too; returns `fileDeleted` (its path) then. */
  delete: procedure.input(deleteStorageObjectSchema).mutation(({ ctx, input }) => ctx.service.deleteStorageObject(input.plugin, input.name, { deleteFile: input.deleteFile })),
  /** Where a new fileio file goes without a path (`dir/<name>.img`), and the storage roots in force. */
  fileDefaults: procedure.query(({ ctx }) => {
    const f = ctx.engine.fileioSettings;
    return { dir: f.storageRoots[0] ?? f.storageDir ?? null, storageDir: f.storageDir ?? null, storageRoots: [...f.storageRoots], dataDir: f.dataDir ?? null };
  }),
  setAttributes: procedure
    .input(setStorageObjectAttributesSchema)
    .mutation(({ ctx, input }) => ctx.service.setStorageObjectAttributes(input.plugin, input.name, input.attributes)),
  setIdentity: procedure.input(setStorageObjectIdentitySchema).mutation(({ ctx, input }) => {
    const { plugin, name, ...identity } = input;
    return ctx.service.setStorageObjectIdentity(plugin, name, identity);
  }),
  /** Grow only; initiators get CAPACITY DATA HAS CHANGED. */
  resize: procedure.input(resizeStorageObjectSchema).mutation(({ ctx, input }) => ctx.service.resizeStorageObject(input.plugin, input.name, input.size)),
});
