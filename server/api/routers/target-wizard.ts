/**
 * The New target wizard's API: the onboarding flow for every further target. The target
 * step reuses onboarding.checkTarget (name free, portal bindable); `create` makes storage
 * (new or existing), target, portal, ACLs with their group tag and allowed networks in
 * one import, or nothing.
 */
import { createTargetFromWizard, targetStorageProblems } from "../../console/onboarding";
import { targetStorageSchema, targetWizardSchema } from "../../console/schemas";
import { procedure, router } from "../trpc";

export const targetWizardRouter = router({
  /** Storage objects the wizard may reuse, with what already exports them. */
  storageChoices: procedure.query(({ ctx }) => {
    const config = ctx.service.config();
    return config.storageObjects.map((so) => {
      const path = `/backstores/${so.plugin}/${so.name}`;
      const usedBy = config.targets.flatMap((t) => t.tpgs.flatMap((g) => g.luns.filter((l) => l.storageObject === path).map((l) => `${t.wwn} tpg${g.tag} lun${l.index}`)));
      const live = ctx.engine.storageObjects.get(`${so.plugin}/${so.name}`);
      return { path, plugin: so.plugin, name: so.name, size: live?.sizeBytes ?? so.size ?? 0, usedBy };
    });
  }),

  checkStorage: procedure.input(targetStorageSchema).mutation(async ({ ctx, input }) => {
    const p = await targetStorageProblems(ctx.service, input);
    if (p) throw p;
    return { ok: true };
  }),

  create: procedure.input(targetWizardSchema).mutation(async ({ ctx, input }) => {
    const r = await createTargetFromWizard(ctx.service, input);
    return { ...r, ip: input.target.ip, port: input.target.port };
  }),
});
