import { withoutSecrets } from "../../config/saveconfig";
import { backupDownloadSchema, backupNameSchema, discoveryAuthSchema, exportConfigSchema, importConfigSchema, settingsSchema } from "../schemas/config";
import { procedure, router } from "../trpc";
import { configTree } from "../tree";
import { chapView } from "./targets";

const backupsRouter = router({
  /** targetcli-style rotating backups in `<data dir>/backup`, newest first. */
  list: procedure.query(({ ctx }) => ctx.service.listBackups()),
  /** Replaces the configuration with a backup (restoreconfig clear_existing), all-or-nothing. */
  restore: procedure.input(backupNameSchema).mutation(({ ctx, input }) => ctx.service.restoreBackup(input.name)),
  /** The backup's saveconfig.json text; its CHAP secrets only with `secrets: true` (as `export`). */
  download: procedure.input(backupDownloadSchema).query(({ ctx, input }) => {
    const text = ctx.service.readBackup(input.name);
    return input.secrets ? text : withoutSecrets(text);
  }),
});

export const configRouter = router({
  /** The whole configuration tree, annotated with what is live. */
  tree: procedure.query(({ ctx }) => configTree(ctx.service)),
  /** saveconfig.json text as targetcli writes it; CHAP passwords only with `secrets: true`. */
  export: procedure.input(exportConfigSchema).query(({ ctx, input }) => ctx.service.exportSaveconfig({ secrets: input?.secrets ?? false })),
  /** restoreconfig: all-or-nothing; returns what in the file is not honoured, by name. */
  import: procedure.input(importConfigSchema).mutation(({ ctx, input }) => ctx.service.importSaveconfig(input.config, { clear: input.clear, overcommit: input.overcommit })),
  settings: procedure.query(({ ctx }) => ctx.service.settings()),
  setSettings: procedure.input(settingsSchema).mutation(({ ctx, input }) => ctx.service.setSettings(input)),
  /** Discovery authentication (SendTargets sessions), passwords never returned. */
  discoveryAuth: procedure.query(({ ctx }) => ({ enabled: ctx.engine.discoveryAuth.enabled, ...chapView(ctx.engine.discoveryAuth) })),
  setDiscoveryAuth: procedure.input(discoveryAuthSchema).mutation(({ ctx, input }) => ctx.service.setDiscoveryAuth({ enabled: input.enabled, ...input.chap })),
  backups: backupsRouter,
});
