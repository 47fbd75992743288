import { importConfigSchema } from "../schemas/config";
import { procedure, router } from "../trpc";
import { configTree } from "../tree";

export const configRouter = router({
  /** The whole configuration tree, annotated with what is live. */
  tree: procedure.query(({ ctx }) => configTree(ctx.service)),
  /** saveconfig.json text, exactly as targetcli writes it. */
  export: procedure.query(({ ctx }) => ctx.service.exportSaveconfig()),
  /** restoreconfig: all-or-nothing; returns what in the file is not honoured, by name. */
  import: procedure.input(importConfigSchema).mutation(({ ctx, input }) => ctx.service.importSaveconfig(input.config, { clear: input.clear })),
});
