/**
 * targetcli's shell through the running appliance: `portico` sends each line here
 * (with the runtime-file token), so its changes go through the same configuration
 * service, and the same transaction, as the console's. Nothing is held between lines.
 */
import { z } from "zod";
import { complete } from "../../shell/complete";
import { isReadOnlyLine } from "../../shell/grammar";
import { runLine } from "../../shell/run";
import { procedure, router } from "../trpc";

const path = z.string().min(1).max(4096).startsWith("/");
const lineInput = z.object({
  line: z.string().max(65536),
  cwd: path,
  previous: path.optional(),
  width: z.number().int().min(20).max(1000).optional(),
  color: z.boolean().optional(),
  workdir: z.string().max(4096).optional(),
});

export const shellRouter = router({
  /** A line that may change the configuration (a mutation: it goes to the audit log). */
  run: procedure.input(lineInput).mutation(({ ctx, input }) => runLine({ service: ctx.service, engine: ctx.engine, online: true }, input)),

  /** A line that only reads (ls, get, pwd, sessions…): a query, so browsing is not logged as configuration changes. */
  read: procedure.input(lineInput).query(({ ctx, input }) => {
    if (!isReadOnlyLine(input.line)) return { ok: false, stdout: "", stderr: "This command changes the configuration: send it to shell.run.\n", cwd: input.cwd, previous: input.previous };
    return runLine({ service: ctx.service, engine: ctx.engine, online: true }, input);
  }),

  complete: procedure
    .input(z.object({ line: z.string().max(65536), cwd: path }))
    .query(({ ctx, input }) => complete({ service: ctx.service, engine: ctx.engine, online: true }, input)),
});
