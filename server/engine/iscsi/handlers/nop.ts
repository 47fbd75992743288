/**
 * NOP-Out / NOP-In (RFC 7143 §11.18, §11.19): the initiator's ping, our answer, and our
 * own keepalive ping (the timer that sends it lives on the Connection).
 */
import { NopIn, NopOut, RESERVED_TAG, RejectReason, type NopOutHeader } from "../pdu";
import { StatSNUse } from "../session";
import type { OrderedHandler } from "./dispatch";
import type { ConnectionPort } from "./port";

interface Ping {
  h: NopOutHeader;
  /** The ping data, echoed back (a copy: the PDU is a view of the receive chunk and the answer may wait its turn). */
  data: Buffer | undefined;
}

export const nopOutHandler: OrderedHandler<Ping> = {
  ordered: true,
  creditOnRelease: true,
  arrive(c, _s, pdu) {
    const h = NopOut.decode(pdu.bhs);
    // The answer to our ping (armPing already cleared the deadline).
    if (h.ttt !== RESERVED_TAG) return undefined;
    if (h.itt === RESERVED_TAG) {
      // RFC 7143 §11.18: ITT 0xFFFFFFFF asks for no answer and must be immediate.
      if (!pdu.immediate) c.reject(RejectReason.PROTOCOL_ERROR, pdu.bhs);
      return undefined;
    }
    return { h, data: pdu.data.length ? Buffer.from(pdu.data) : undefined };
  },
  release(c, _s, { h, data }) {
    c.send(NopIn, { final: true, lun: h.lun < 0 ? 0 : h.lun, itt: h.itt, ttt: RESERVED_TAG }, data, StatSNUse.ADVANCE);
  },
};

/** Unsolicited NOP-In: ITT reserved, a TTT that asks for an answer, StatSN not advanced. */
export function sendPing(c: ConnectionPort, ttt: number): void {
  c.send(NopIn, { final: true, lun: 0, itt: RESERVED_TAG, ttt }, undefined, StatSNUse.CURRENT);
}
