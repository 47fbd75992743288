/**
 * What the console needs beyond the configuration routers: facts about this machine,
 * appliance settings, a storage object's attributes, and an import preview.
 */
import { z } from "zod";
import { applianceSchema } from "../../console/schemas";
import { addresses, blockDevices, checkBacking, defaultIqnPrefix, hostname } from "../../console/host";
import { previewImport } from "../../console/preview";
import { capabilities } from "../../config/capabilities";
import { FieldError } from "../../console/errors";
import { importConfigSchema } from "../schemas/config";
import { pluginSchema, storageObjectNameSchema } from "../schemas/storage";
import { procedure, router } from "../trpc";

export const hostRouter = router({
  info: procedure.query(({ ctx }) => {
    const defaults = { name: hostname(), iqnPrefix: defaultIqnPrefix() };
    return {
      hostname: hostname(),
      appliance: ctx.auth?.appliance(defaults) ?? { ...defaults, onboardedAt: null },
      capabilities,
      dataDir: ctx.app.dataDir,
      username: ctx.session?.username ?? null,
    };
  }),
  addresses: procedure.query(() => addresses()),
  blockDevices: procedure.query(({ ctx }) => {
    const so = ctx.service.config().storageObjects;
    return blockDevices().map((d) => ({ ...d, inUse: so.some((s) => s.plugin === "block" && s.dev === d.path) }));
  }),
  /** A backing path as the storage wizard sees it: exists? a file or a device? its size, free space around it. */
  checkBacking: procedure.input(z.object({ path: z.string().trim().min(1, "required").startsWith("/", "an absolute path") })).query(({ input }) => checkBacking(input.path)),

  setAppliance: procedure.input(applianceSchema).mutation(({ ctx, input }) => {
    if (!ctx.auth) throw new FieldError("settings are not available in this context", "name");
    ctx.auth.setSetting("appliance.name", input.name);
    ctx.auth.setSetting("appliance.iqnPrefix", input.iqnPrefix);
    return input;
  }),

  /** One storage object with every attribute (stored and live) and what exports it. */
  storageObject: procedure.input(z.object({ plugin: pluginSchema, name: storageObjectNameSchema })).query(({ ctx, input }) => {
    const stored = ctx.service.config().storageObjects.find((s) => s.plugin === input.plugin && s.name === input.name);
    if (!stored) throw new FieldError(`storage object ${input.plugin}/${input.name} does not exist`, "name", "NOT_FOUND");
    const live = ctx.engine.storageObjects.get(`${input.plugin}/${input.name}`);
    return {
      ...stored,
      dev: stored.dev ?? null,
      size: live?.sizeBytes ?? stored.size ?? 0,
      live: Boolean(live),
      attributes: live ? { ...live.attributes } : stored.attributes,
      backing: stored.dev ? checkBacking(stored.dev) : null,
      error: ctx.service.warnings.find((w) => w.object === `/backstores/${input.plugin}/${input.name}`)?.reason ?? null,
    };
  }),

  previewImport: procedure.input(importConfigSchema).mutation(({ ctx, input }) => previewImport(ctx.service, input.config, input.clear, input.overcommit)),
});
