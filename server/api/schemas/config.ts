import { z } from "zod";
import { chapSchema } from "./common";

export const importConfigSchema = z.object({
  /** saveconfig.json text, or the parsed object. */
  config: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
  /** Replace everything (restoreconfig clear_existing); without it, existing objects are refused. */
  clear: z.boolean().default(false),
  /** Accept sparse fileio files larger than their file system's free space (`portico restoreconfig --overcommit`). */
  overcommit: z.boolean().optional(),
});

export const exportConfigSchema = z
  .object({
    /** Include CHAP and discovery passwords in clear (a complete, restorable file). Default false. */
    secrets: z.boolean().default(false),
  })
  .optional();

export const backupNameSchema = z.object({
  name: z.string().regex(/^saveconfig-\d{8}-\d{2}:\d{2}:\d{2}(?:\.\d+)?-json\.gz$/, "a backup name: saveconfig-YYYYMMDD-HH:MM:SS-json.gz"),
});

export const backupDownloadSchema = backupNameSchema.extend({
  /** Include CHAP and discovery passwords (as `export`). Default false: the file is shared more than the appliance. */
  secrets: z.boolean().default(false),
});

export const settingsSchema = z.object({
  autoAddMappedLuns: z.boolean().optional(),
  maxBackupFiles: z.number().int().min(1, "keep at least 1 backup").max(1000).optional(),
  /** Directories fileio files must be in; empty: no restriction beyond the fixed rules (docs/configuration.md). */
  storageRoots: z.array(z.string().trim().min(1, "required").startsWith("/", "an absolute path")).max(32, "at most 32 storage roots").optional(),
});

export const discoveryAuthSchema = z.object({ enabled: z.boolean(), chap: chapSchema });
