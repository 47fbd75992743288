/** Alerts: the rules' settings, where alerts go, what fires now, and a test delivery. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { alertSettingsSchema } from "../../alerts/schemas";
import { getAlertService, type AlertService } from "../../alerts/service";
import { procedure, router } from "../trpc";

function alerts(): AlertService {
  const a = getAlertService();
  if (!a) throw new TRPCError({ code: "PRECONDITION_FAILED", message: "alerts are not running in this process" });
  return a;
}

export const alertsRouter = router({
  settings: procedure.query(() => alerts().publicSettings()),

  save: procedure.input(alertSettingsSchema).mutation(({ input }) => {
    alerts().save(input);
    return alerts().publicSettings();
  }),

  /** What fires now, the last deliveries, when the rules last ran. */
  status: procedure.query(() => {
    const a = alerts();
    return {
      active: a.active().map((f) => ({ ...f.alert, startsAt: f.startsAt })),
      recent: a.recent,
      lastEvaluatedAt: a.lastEvaluatedAt ?? null,
    };
  }),

  /** What needs attention now (every rule, fresh facts): the Overview's list. */
  attention: procedure.query(() => alerts().attention()),

  /** Runs the rules now (Settings › Alerts "Check now"; tests). */
  evaluate: procedure.mutation(async () => {
    const r = await alerts().evaluate();
    return { firing: r.firing.length, started: r.started.map((x) => x.id), resolved: r.resolved.map((x) => x.id) };
  }),

  /** Sends a test alert on one channel with the settings in the form (not saved). */
  test: procedure.input(z.object({ channel: z.enum(["webhook", "email"]), settings: alertSettingsSchema })).mutation(async ({ input }) => {
    const d = await alerts().test(input.channel, input.settings);
    if (!d.ok) throw new TRPCError({ code: "BAD_REQUEST", message: `the test ${input.channel === "email" ? "e-mail" : "webhook"} was not delivered: ${d.error}` });
    return d;
  }),
});
