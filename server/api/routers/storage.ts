import { createStorageObjectSchema, storageObjectRefSchema } from "../schemas/storage";
import { procedure, router } from "../trpc";
import { configTree } from "../tree";

export const storageRouter = router({
  list: procedure.query(({ ctx }) => configTree(ctx.service).storageObjects),
  create: procedure.input(createStorageObjectSchema).mutation(({ ctx, input }) => ctx.service.createStorageObject(input)),
  delete: procedure.input(storageObjectRefSchema).mutation(({ ctx, input }) => ctx.service.deleteStorageObject(input.plugin, input.name)),
});
