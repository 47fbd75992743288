import { z } from "zod";
import { parseRbdConfig } from "../../engine/backstores/rbd-config";
import { MAX_SIZE_BYTES, SIZE_TOO_LARGE, unitSerialSchema } from "./common";

export const pluginSchema = z.enum(["ramdisk", "fileio", "block", "rbd"]);
export const storageObjectNameSchema = z.string().regex(/^[^\s/]{1,64}$/, "1 to 64 characters, no spaces or '/'");
const blockSizeSchema = z.union([z.literal(512), z.literal(4096)], { message: "block size is 512 or 4096" });
const sizeSchema = z.number().max(MAX_SIZE_BYTES, SIZE_TOO_LARGE).int("size is a whole number of bytes").positive("size must be more than 0");
const pathSchema = z.string().trim().min(1, "required").startsWith("/", "an absolute path");
const ascii = (max: number) => z.string().min(1, "required").max(max, `at most ${max} characters`).regex(/^[\x20-\x7e]+$/, "printable ASCII");
/** INQUIRY identity (SPC-4 §6.6.2): vendor 8, product 16, revision 4 characters. */
export const identityFields = {
  vendorId: ascii(8).optional(),
  productId: ascii(16).optional(),
  revision: ascii(4).optional(),
};

function rbdConfigSchema() {
  return z
    .string()
    .trim()
    .superRefine((v, ctx) => {
      try {
        parseRbdConfig(v);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    });
}

/** Reaching a Ceph cluster from the console: ceph.conf path and client id (without "client."). */
export const rbdClusterSchema = z.object({
  conf: pathSchema,
  id: z.string().trim().regex(/^[A-Za-z0-9_.-]{1,64}$/, "a Ceph client id such as admin"),
});
export const rbdPoolSchema = rbdClusterSchema.extend({ pool: z.string().trim().regex(/^[A-Za-z0-9_.+-]{1,250}$/, "a pool name") });

/** What every kind of storage object may be given when it is made: unit serial, block size, attributes, INQUIRY identity. */
const createCommonFields = {
  wwn: unitSerialSchema.optional(),
  blockSize: blockSizeSchema.optional(),
  attributes: z.record(z.string(), z.number().int()).optional(),
  ...identityFields,
};

export const createStorageObjectSchema = z.discriminatedUnion("plugin", [
  z.object({
    plugin: z.literal("ramdisk"),
    name: storageObjectNameSchema,
    size: sizeSchema,
    ...createCommonFields,
  }),
  z.object({
    plugin: z.literal("fileio"),
    name: storageObjectNameSchema,
    /** Absent: `<storage directory or first storage root>/<name>.img` (storage.fileDefaults). */
    dev: pathSchema.optional(),
    size: sizeSchema.optional(),
    /** Accept a sparse size beyond the file system's free space (refused otherwise with engineCode "overcommit"). */
    overcommit: z.boolean().optional(),
    writeBack: z.boolean().optional(),
    sparse: z.boolean().optional(),
    ...createCommonFields,
  }),
  z.object({
    plugin: z.literal("block"),
    name: storageObjectNameSchema,
    dev: pathSchema,
    readonly: z.boolean().optional(),
    writeBack: z.boolean().optional(),
    ...createCommonFields,
  }),
  z.object({
    plugin: z.literal("rbd"),
    name: storageObjectNameSchema,
    /** tcmu-runner's user:rbd config string: rbd/<pool>/<image>[;conf=..][;id=..][;osd_op_timeout=..]. */
    config: rbdConfigSchema(),
    /** Create the image first with this size (bytes); without it the image must exist. */
    createImageSize: sizeSchema.optional(),
    ...createCommonFields,
  }),
]);
export type CreateStorageObjectInput = z.infer<typeof createStorageObjectSchema>;

export const storageObjectRefSchema = z.object({ plugin: pluginSchema, name: storageObjectNameSchema });
/** `deleteFile`: a fileio object's file is deleted too (never by default). */
export const deleteStorageObjectSchema = storageObjectRefSchema.extend({ deleteFile: z.boolean().optional() });

export const setStorageObjectAttributesSchema = storageObjectRefSchema.extend({
  attributes: z.record(z.string().regex(/^[a-z0-9_]+$/, "not an attribute name"), z.number().int("attributes are integers")),
});
export const setStorageObjectIdentitySchema = storageObjectRefSchema.extend({ wwn: unitSerialSchema.optional(), ...identityFields });
/** `size` may be left out for a block storage object: it grows to its device's new size. */
export const resizeStorageObjectSchema = storageObjectRefSchema.extend({ size: sizeSchema.optional() });
