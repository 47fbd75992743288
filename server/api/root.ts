import { alertsRouter } from "./routers/alerts";
import { authRouter } from "./routers/auth";
import { clusterRouter } from "./routers/cluster";
import { configRouter } from "./routers/config";
import { hostRouter } from "./routers/host";
import { httpsRouter } from "./routers/https";
import { onboardingRouter } from "./routers/onboarding";
import { rbdRouter } from "./routers/rbd";
import { storageRouter } from "./routers/storage";
import { aluaRouter } from "./routers/alua";
import { systemRouter } from "./routers/system";
import { targetsRouter } from "./routers/targets";
import { targetWizardRouter } from "./routers/target-wizard";
import { eventsRouter } from "./routers/events";
import { monitorRouter } from "./routers/monitor";
import { sessionsRouter } from "./routers/sessions";
import { shellRouter } from "./routers/shell";
import { createCallerFactory, router } from "./trpc";

export const appRouter = router({
  sessions: sessionsRouter,
  monitor: monitorRouter,
  events: eventsRouter,
  system: systemRouter,
  storage: storageRouter,
  alua: aluaRouter,
  rbd: rbdRouter,
  targets: targetsRouter,
  config: configRouter,
  auth: authRouter,
  onboarding: onboardingRouter,
  host: hostRouter,
  https: httpsRouter,
  alerts: alertsRouter,
  shell: shellRouter,
  targetWizard: targetWizardRouter,
  cluster: clusterRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
