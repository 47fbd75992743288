/**
 * Full feature phase: one handler per opcode (SPDK lib/iscsi style), all in this table, and
 * the one place command PDUs meet the CmdSN window (RFC 7143 §3.2.2.1, §4.2.2.1), as SPDK's
 * iscsi_pdu_hdr_handle checks it before any opcode's handler runs. Anything not listed is
 * answered with Reject (COMMAND NOT SUPPORTED). Login-phase PDUs go to login-pdu.ts instead.
 *
 * An ordered handler has two steps: `arrive` runs as the PDU arrives (checks answered with a
 * Reject, which consume no CmdSN; a SCSI command registers its task so its Data-Out can be
 * collected while it waits its turn), `release` when the window reaches its CmdSN (at once for
 * an immediate command).
 */
import { OPCODE_NAMES, Opcode, RejectReason, type Pdu } from "../pdu";
import type { Session } from "../session";
import { logoutHandler } from "./logout";
import { nopOutHandler } from "./nop";
import type { ConnectionPort } from "./port";
import { dataOutHandler, scsiCommandHandler } from "./scsi-command";
import { taskMgmtHandler } from "./task-management";
import { textHandler } from "./text";

/** A PDU without a CmdSN to order (Data-Out, SNACK, a Login Request in full feature phase). */
export interface UnorderedHandler {
  readonly ordered: false;
  arrive(c: ConnectionPort, s: Session, pdu: Pdu): void;
}

/** A command PDU (its CmdSN at bytes 24–27). */
export interface OrderedHandler<T> {
  readonly ordered: true;
  /** The window opens again when it is released (answered at once), rather than at its response (SCSI commands). */
  readonly creditOnRelease: boolean;
  /** Returns what release needs, or undefined when it has answered already (a Reject: no CmdSN consumed). */
  arrive(c: ConnectionPort, s: Session, pdu: Pdu): T | undefined;
  release(c: ConnectionPort, s: Session, item: T, immediate: boolean): void;
}

export type OpcodeHandler = UnorderedHandler | OrderedHandler<unknown>;

/** A PDU that is valid on the wire but never in full feature phase here. */
const protocolError: UnorderedHandler = {
  ordered: false,
  arrive: (c, _s, pdu) => c.reject(RejectReason.PROTOCOL_ERROR, pdu.bhs),
};

export const FFP_HANDLERS: Record<number, OpcodeHandler> = {
  [Opcode.NOP_OUT]: nopOutHandler as OpcodeHandler,
  [Opcode.SCSI_COMMAND]: scsiCommandHandler as OpcodeHandler,
  [Opcode.TASK_MGMT_REQUEST]: taskMgmtHandler as OpcodeHandler,
  [Opcode.TEXT_REQUEST]: textHandler as OpcodeHandler,
  [Opcode.SCSI_DATA_OUT]: dataOutHandler,
  [Opcode.LOGOUT_REQUEST]: logoutHandler as OpcodeHandler,
  // A second login on a logged-in connection is a protocol error (RFC 7143 §6.3).
  [Opcode.LOGIN_REQUEST]: protocolError,
  // SNACK needs ERL ≥ 1 (RFC 7143 §11.16).
  [Opcode.SNACK_REQUEST]: protocolError,
};

/** One full feature phase PDU: the window check for commands, then its opcode's handler. */
export function dispatchPdu(c: ConnectionPort, s: Session, pdu: Pdu): void {
  const handler = FFP_HANDLERS[pdu.opcode];
  if (!handler) return c.reject(RejectReason.COMMAND_NOT_SUPPORTED, pdu.bhs);
  if (!handler.ordered) return handler.arrive(c, s, pdu);
  const cmdSN = pdu.bhs.readUInt32BE(24);
  const immediate = pdu.immediate;
  if (!s.admits(cmdSN, immediate)) {
    // Outside the window (or a CmdSN already waiting): silently ignored (RFC 7143 §4.2.2.1).
    c.host.log("info", `iSCSI ${OPCODE_NAMES[pdu.opcode]} outside the CmdSN window dropped`, {
      remote: c.describe, cmdSN, window: `${s.expCmdSN}..${s.maxCmdSN}`,
    });
    return;
  }
  const item = handler.arrive(c, s, pdu);
  if (item === undefined) return;
  if (immediate) return release(handler, c, s, item, true);
  if (cmdSN !== s.expCmdSN) {
    s.hold(cmdSN, () => release(handler, c, s, item, false));
    return;
  }
  s.advance();
  release(handler, c, s, item, false);
  s.drainHeld();
}

function release<T>(handler: OrderedHandler<T>, c: ConnectionPort, s: Session, item: T, immediate: boolean): void {
  if (handler.creditOnRelease && !immediate) s.credit();
  handler.release(c, s, item, immediate);
}
