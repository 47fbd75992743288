/**
 * Logout Request / Response (RFC 7143 §11.14, §11.15), and the Async Message that asks the
 * initiator to log out (§11.9.1).
 */
import { AsyncMessage, LogoutRequest, LogoutResponse, RESERVED_TAG, type LogoutRequestHeader } from "../pdu";
import { StatSNUse } from "../session";
import type { OrderedHandler } from "./dispatch";
import type { ConnectionPort } from "./port";
import { quiesce } from "./task-management";

const LogoutReason = { CLOSE_SESSION: 0, CLOSE_CONNECTION: 1, REMOVE_FOR_RECOVERY: 2 } as const;
const LogoutResult = { CLOSED: 0, CID_NOT_FOUND: 1, RECOVERY_NOT_SUPPORTED: 2 } as const;

export const logoutHandler: OrderedHandler<LogoutRequestHeader> = {
  ordered: true,
  creditOnRelease: true,
  arrive: (_c, _s, pdu) => LogoutRequest.decode(pdu.bhs),
  release(c, s, h) {
    // Close the connection: the CID must be ours (MaxConnections=1). Recovery needs ERL ≥ 2.
    const response = h.reason === LogoutReason.CLOSE_SESSION ? LogoutResult.CLOSED
      : h.reason === LogoutReason.CLOSE_CONNECTION ? (h.cid === c.cid ? LogoutResult.CLOSED : LogoutResult.CID_NOT_FOUND)
      : LogoutResult.RECOVERY_NOT_SUPPORTED;
    // Answered in this turn (inside the connection's guard) when nothing is outstanding.
    if (response !== LogoutResult.CLOSED) return answerLogout(c, h.itt, response);
    // Outstanding commands complete before the Logout Response (RFC 7143 §11.14).
    c.stopAccepting();
    const live = s.liveTasks();
    if (live.length === 0) return answerLogout(c, h.itt, response);
    void quiesce(live.map((t) => t.done)).then(() => c.guard(() => answerLogout(c, h.itt, response)));
  },
};

/** The Logout Response; after "closed" the connection closes once it has left. */
function answerLogout(c: ConnectionPort, itt: number, response: number): void {
  c.send(LogoutResponse, {
    final: true, response, itt,
    time2Wait: response === LogoutResult.CLOSED ? 0 : c.params.defaultTime2Wait, time2Retain: 0,
  }, undefined, StatSNUse.ADVANCE);
  if (response === LogoutResult.CLOSED) c.closeAfterFlush("logout");
}

/**
 * Asks the initiator to log out: Async Message, AsyncEvent 1 "target requests Logout"
 * (RFC 7143 §11.9.1); Parameter3 is the time in seconds it has to do so. The caller drops
 * the session if it does not.
 */
export function requestLogout(c: ConnectionPort, seconds: number): void {
  if (c.state !== "ffp" || !c.session) return;
  c.send(AsyncMessage, {
    final: true, lun: 0, itt: RESERVED_TAG,
    asyncEvent: 1, asyncVCode: 0, parameter1: 0, parameter2: 0, parameter3: Math.max(0, Math.min(0xffff, Math.round(seconds))),
  }, undefined, StatSNUse.ADVANCE);
}
