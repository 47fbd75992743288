/**
 * Full feature phase: one handler per opcode (SPDK lib/iscsi style), all in this table.
 * Anything not listed is answered with Reject (COMMAND NOT SUPPORTED) by the Connection.
 * Login-phase PDUs go to login-pdu.ts instead (only Login Requests are valid there).
 */
import type { Connection } from "../connection";
import { Opcode, RejectReason, type Pdu } from "../pdu";
import { handleLogout } from "./logout";
import { handleNopOut } from "./nop";
import { handleDataOut, handleScsiCommand } from "./scsi-command";
import { handleTaskMgmt } from "./task-management";
import { handleText } from "./text";

export type Handler = (c: Connection, pdu: Pdu) => void;

/** A PDU that is valid on the wire but never in full feature phase here. */
function rejectProtocolError(c: Connection, pdu: Pdu): void {
  c.reject(RejectReason.PROTOCOL_ERROR, pdu.bhs);
}

export const FFP_HANDLERS: Record<number, Handler> = {
  [Opcode.NOP_OUT]: handleNopOut,
  [Opcode.SCSI_COMMAND]: handleScsiCommand,
  [Opcode.TASK_MGMT_REQUEST]: handleTaskMgmt,
  [Opcode.TEXT_REQUEST]: handleText,
  [Opcode.SCSI_DATA_OUT]: handleDataOut,
  [Opcode.LOGOUT_REQUEST]: handleLogout,
  // A second login on a logged-in connection is a protocol error (RFC 7143 §6.3).
  [Opcode.LOGIN_REQUEST]: rejectProtocolError,
  // SNACK needs ERL ≥ 1 (RFC 7143 §11.16).
  [Opcode.SNACK_REQUEST]: rejectProtocolError,
};
