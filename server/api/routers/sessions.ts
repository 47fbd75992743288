import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { getMonitor, type Monitor } from "../../history/monitor";
import { procedure, router } from "../trpc";

export function needMonitor(): Monitor {
  const m = getMonitor();
  if (!m) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "monitoring is not running (no iSCSI fabric or history database)" });
  return m;
}

export const sessionsRouter = router({
  /** Live sessions with their current rates (busiest first) and negotiated parameters. */
  list: procedure.query(() => needMonitor().sessions().sort((a, b) => b.iops - a.iops || b.mbps - a.mbps || a.loginTime - b.loginTime)),

  get: procedure.input(z.object({ id: z.string().min(1).max(200) })).query(({ input }) => {
    const m = needMonitor();
    const s = m.sessions().find((x) => x.id === input.id);
    return { session: s ?? null };
  }),

  /**
   * Asks the initiator to log out (iSCSI Async Message, AsyncEvent 1) and drops the
   * session after `timeoutMs` if it is still there.
   */
  disconnect: procedure
    .input(z.object({ id: z.string().min(1).max(200), timeoutMs: z.number().int().min(0).max(60_000).default(5_000) }))
    .mutation(async ({ input }) => {
      const m = needMonitor();
      const outcome = await m.fabric.disconnectSession(input.id, { timeoutMs: input.timeoutMs });
      return { id: input.id, outcome };
    }),
});
