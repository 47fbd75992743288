/**
 * ALUA target port groups (issue 13): the storage object's groups (LIO `<so>/alua/<name>`) and a
 * LUN's group. Pure zod, shared by the API and the console's forms.
 */
import { z } from "zod";
import { ALUA_GROUP_ATTRIBUTES } from "../../engine/core/alua";
import { lunIndexSchema, tpgRefSchema } from "./common";
import { pluginSchema, storageObjectNameSchema } from "./storage";

export const aluaGroupNameSchema = z.string().trim().regex(/^[^\s/]{1,64}$/, "1 to 64 characters, no spaces or '/'");
/** tg_pt_gp_id of a new group: 0 is default_tg_pt_gp's. */
export const aluaGroupIdSchema = z.number().int("a whole number").min(1, "1..65535 (0 is default_tg_pt_gp's)").max(65535, "1..65535");
/** LIO's attribute names (alua_access_state, preferred, trans_delay_msecs...): the engine checks each value's range. */
export const aluaAttributesSchema = z.partialRecord(z.enum(ALUA_GROUP_ATTRIBUTES), z.number().int("a whole number"));

export const aluaStorageObjectSchema = z.object({ plugin: pluginSchema, name: storageObjectNameSchema });
export const aluaGroupRefSchema = aluaStorageObjectSchema.extend({ group: aluaGroupNameSchema });
export const createAluaGroupSchema = aluaGroupRefSchema.extend({ id: aluaGroupIdSchema, attributes: aluaAttributesSchema.optional() });
export const setAluaGroupAttributesSchema = aluaGroupRefSchema.extend({ attributes: aluaAttributesSchema });
/** The states an admin may set (LBA Dependent needs an LBA map Portico does not have). */
export const aluaStateSchema = z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3), z.literal(14), z.literal(15)]);
export const setAluaGroupStateSchema = aluaGroupRefSchema.extend({ state: aluaStateSchema });
export const setLunAluaGroupSchema = tpgRefSchema.extend({ lun: lunIndexSchema, group: aluaGroupNameSchema });
