import { configRouter } from "./routers/config";
import { storageRouter } from "./routers/storage";
import { systemRouter } from "./routers/system";
import { targetsRouter } from "./routers/targets";
import { createCallerFactory, router } from "./trpc";

export const appRouter = router({
  system: systemRouter,
  storage: storageRouter,
  targets: targetsRouter,
  config: configRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
