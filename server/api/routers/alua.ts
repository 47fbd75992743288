/**
 * ALUA target port groups of a storage object (issue 13; targetcli's `<so>/alua/` node):
 * list with states and members, create, delete, set attributes or the state, move a LUN.
 */
import { ALUA_ACCESS_TYPE_NAMES, ALUA_STATE_NAMES, ALUA_STATUS_NAMES } from "../../engine/scsi/alua";
import {
  aluaGroupRefSchema,
  aluaStorageObjectSchema,
  createAluaGroupSchema,
  setAluaGroupAttributesSchema,
  setAluaGroupStateSchema,
  setLunAluaGroupSchema,
} from "../schemas/alua";
import { procedure, router } from "../trpc";

export const aluaRouter = router({
  /**
   * The groups (default_tg_pt_gp first) with their attributes, state names and member ports, and
   * the sessions a state change reaches (every session through a TPG exporting the object).
   */
  list: procedure.input(aluaStorageObjectSchema).query(({ ctx, input }) => {
    const so = ctx.engine.storageObject(input.plugin, input.name);
    const ports = new Set([...so.exports].map((l) => `${l.tpg.target.wwn}|${l.tpg.tag}`));
    const sessions = ctx.engine
      .sessions()
      .filter((s) => s.sessionType === "Normal" && ports.has(`${s.targetName}|${s.tpgTag}`))
      .map((s) => ({ id: s.id, initiatorName: s.initiatorName, targetName: s.targetName!, tpgTag: s.tpgTag!, remoteAddress: s.connections[0]?.remoteAddress ?? "" }));
    return {
      groups: [...so.aluaGroups.values()].map((g) => ({
        name: g.name,
        id: g.id,
        attributes: { ...g.attributes },
        state: ALUA_STATE_NAMES[g.state] ?? String(g.state),
        pendingState: g.pendingState === undefined ? null : (ALUA_STATE_NAMES[g.pendingState] ?? String(g.pendingState)),
        status: ALUA_STATUS_NAMES[g.attributes.alua_access_status] ?? String(g.attributes.alua_access_status),
        accessType: ALUA_ACCESS_TYPE_NAMES[g.attributes.alua_access_type] ?? String(g.attributes.alua_access_type),
        members: g.members().map((l) => ({ wwn: l.tpg.target.wwn, tag: l.tpg.tag, lun: l.index, relativeTargetPortId: l.tpg.relativeTargetPortId, offline: l.aluaOffline })),
      })),
      sessions,
    };
  }),
  create: procedure.input(createAluaGroupSchema).mutation(async ({ ctx, input }) => {
    await ctx.service.createAluaGroup(input.plugin, input.name, input.group, input.id, input.attributes ?? {});
    return { group: input.group };
  }),
  /** Its LUNs go back to default_tg_pt_gp. */
  delete: procedure.input(aluaGroupRefSchema).mutation(({ ctx, input }) => ctx.service.deleteAluaGroup(input.plugin, input.name, input.group)),
  setAttributes: procedure
    .input(setAluaGroupAttributesSchema)
    .mutation(({ ctx, input }) => ctx.service.setAluaGroupAttributes(input.plugin, input.name, input.group, input.attributes)),
  /** An implicit transition: Transitioning for trans_delay_msecs, then the state; sessions get 2Ah/06h. */
  setState: procedure
    .input(setAluaGroupStateSchema)
    .mutation(({ ctx, input }) => ctx.service.setAluaGroupAttributes(input.plugin, input.name, input.group, { alua_access_state: input.state })),
  setLunGroup: procedure.input(setLunAluaGroupSchema).mutation(({ ctx, input }) => ctx.service.setLunAluaGroup(input.wwn, input.tag, input.lun, input.group)),
});
