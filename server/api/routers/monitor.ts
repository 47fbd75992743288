import { on } from "node:events";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { SampleEvent } from "../../engine/core/sampler";
import { procedure, router } from "../trpc";
import { needMonitor } from "./sessions";

const range = z.enum(["15m", "1h", "24h", "7d"]);

export const monitorRouter = router({
  /** Appliance-wide cards and the last 15 minutes of the appliance series. */
  overview: procedure.query(() => needMonitor().overview()),

  /** Every configured LUN with its latest rates and totals. */
  luns: procedure.query(() => needMonitor().luns()),

  lun: procedure.input(z.object({ key: z.string().min(1).max(400) })).query(({ input }) => {
    const lun = needMonitor().luns().find((l) => l.key === input.key);
    return lun ?? null;
  }),

  /** A series' history: 15m from the in-memory rings, 1h/24h/7d from history.db. */
  history: procedure
    .input(z.object({ scope: z.enum(["appliance", "lun", "session"]), key: z.string().min(1).max(400).default("appliance"), range }))
    .query(({ input }) => needMonitor().seriesHistory(input.scope, input.key, input.range)),

  /**
   * One sample per second (SSE through httpSubscriptionLink). The sampler builds sample
   * objects only while someone listens; a browser that goes away aborts `signal`, which
   * ends this generator and removes the listener.
   */
  live: procedure.subscription(async function* ({ signal }) {
    const m = needMonitor();
    for await (const [event] of on(m.sampler, "sample", { signal })) {
      yield event as SampleEvent;
    }
  }),

  /** /metrics access (see README "Metrics"). The token itself is shown only once, when generated. */
  metricsSettings: procedure.query(() => ({ tokenSet: !!needMonitor().metricsToken(), statsEnabled: needMonitor().stats.enabled })),

  /** Switches IO counting on or off at run time (off: the overhead benchmark's baseline; rates and charts stay at zero). */
  setStatsEnabled: procedure.input(z.object({ enabled: z.boolean() })).mutation(({ input }) => {
    needMonitor().stats.enabled = input.enabled;
    return { enabled: input.enabled };
  }),

  setMetricsToken: procedure
    .input(z.object({ action: z.enum(["generate", "clear"]) }))
    .mutation(({ input }) => {
      const m = needMonitor();
      if (input.action === "clear") {
        m.setMetricsToken(undefined);
        return { token: null };
      }
      const token = randomBytes(24).toString("base64url");
      m.setMetricsToken(token);
      return { token };
    }),
});
