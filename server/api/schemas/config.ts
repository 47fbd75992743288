import { z } from "zod";

export const importConfigSchema = z.object({
  /** saveconfig.json text, or the parsed object. */
  config: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
  /** Replace everything (restoreconfig clear_existing); without it, existing objects are refused. */
  clear: z.boolean().default(false),
});
