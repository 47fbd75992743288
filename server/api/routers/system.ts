import { procedure, router } from "../trpc";
import { engineStatus } from "../tree";

export const systemRouter = router({
  /** Uptime, version, sessions, portals (listening or not), restore warnings and object counts. */
  status: procedure.query(({ ctx }) => engineStatus(ctx.service, ctx.app)),
});
