import { z } from "zod";
import { procedure, router } from "../trpc";
import { needMonitor } from "./sessions";

export const eventsRouter = router({
  /** The audit and activity logs, merged newest first, filtered by type, target, initiator and time; `before` pages. */
  list: procedure
    .input(
      z.object({
        /** One log only: "audit" (changes, sign-ins, starts) or "activity" (initiators and the engine); default both. */
        log: z.enum(["audit", "activity"]).optional(),
        types: z.array(z.string().min(1).max(40)).max(20).optional(),
        /** Leave out the unit attentions 29h (power on / reset / nexus loss) each new session gets. */
        hideResetNotices: z.boolean().optional(),
        target: z.string().max(300).optional(),
        initiator: z.string().max(300).optional(),
        from: z.number().int().nonnegative().optional(),
        to: z.number().int().nonnegative().optional(),
        before: z.number().int().positive().optional(),
        limit: z.number().int().min(1).max(1000).default(200),
      }),
    )
    .query(({ input }) => needMonitor().events(input)),

  facets: procedure.query(() => needMonitor().eventFacets()),
});
