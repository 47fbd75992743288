/**
 * targetcli's shell through the running appliance: `portico` sends each line here
 * (with the runtime-file token), so its changes go through the same configuration
 * service, and the same transaction, as the console's. Nothing is held between lines.
 */
import { z } from "zod";
import { complete } from "../../shell/complete";
import { runLine } from "../../shell/run";
import { procedure, router } from "../trpc";

const path = z.string().min(1).max(4096).startsWith("/");

export const shellRouter = router({
  run: procedure
    .input(
      z.object({
        line: z.string().max(65536),
        cwd: path,
        previous: path.optional(),
        width: z.number().int().min(20).max(1000).optional(),
        workdir: z.string().max(4096).optional(),
      }),
    )
    .mutation(({ ctx, input }) => runLine({ service: ctx.service, engine: ctx.engine, online: true }, input)),

  complete: procedure
    .input(z.object({ line: z.string().max(65536), cwd: path }))
    .query(({ ctx, input }) => complete({ service: ctx.service, engine: ctx.engine, online: true }, input)),
});
