/**
 * NOP-Out / NOP-In (RFC 7143 §11.18, §11.19): the initiator's ping, our answer, and our
 * own keepalive ping (the timer that sends it lives on the Connection).
 */
import type { Connection } from "../connection";
import { NopIn, NopOut, RESERVED_TAG, RejectReason, type Pdu } from "../pdu";

export function handleNopOut(c: Connection, pdu: Pdu): void {
  const h = NopOut.decode(pdu.bhs);
  if (h.ttt !== RESERVED_TAG) {
    // The answer to our ping (armPing already cleared the deadline).
    return;
  }
  if (h.itt === RESERVED_TAG) {
    // RFC 7143 §11.18: ITT 0xFFFFFFFF asks for no answer and must be immediate.
    if (!pdu.immediate) c.reject(RejectReason.PROTOCOL_ERROR, pdu.bhs);
    return;
  }
  const s = c.session!;
  const ping = pdu.data.length ? Buffer.from(pdu.data) : undefined;
  const lun = h.lun;
  s.sequence(h.cmdSN, pdu.immediate, () => {
    if (!pdu.immediate) s.credit();
    c.send(NopIn, { final: true, lun: lun < 0 ? 0 : lun, itt: h.itt, ttt: RESERVED_TAG, statSN: c.nextStatSN(), expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN }, ping);
  });
}

/** Unsolicited NOP-In: ITT reserved, a TTT that asks for an answer, StatSN not advanced. */
export function sendPing(c: Connection, ttt: number): void {
  const s = c.session!;
  c.send(NopIn, { final: true, lun: 0, itt: RESERVED_TAG, ttt, statSN: c.statSN, expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN });
}
