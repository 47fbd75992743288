/**
 * Logout Request / Response (RFC 7143 §11.14, §11.15), and the Async Message that asks the
 * initiator to log out (§11.9.1).
 */
import type { Connection } from "../connection";
import { AsyncMessage, LogoutRequest, LogoutResponse, RESERVED_TAG, type Pdu } from "../pdu";
import { quiesce } from "./task-management";

const LogoutReason = { CLOSE_SESSION: 0, CLOSE_CONNECTION: 1, REMOVE_FOR_RECOVERY: 2 } as const;
const LogoutResult = { CLOSED: 0, CID_NOT_FOUND: 1, RECOVERY_NOT_SUPPORTED: 2 } as const;

export function handleLogout(c: Connection, pdu: Pdu): void {
  const s = c.session!;
  const h = LogoutRequest.decode(pdu.bhs);
  s.sequence(h.cmdSN, pdu.immediate, () => {
    if (!pdu.immediate) s.credit();
    // Close the connection: the CID must be ours (MaxConnections=1). Recovery needs ERL ≥ 2.
    const response = h.reason === LogoutReason.CLOSE_SESSION ? LogoutResult.CLOSED
      : h.reason === LogoutReason.CLOSE_CONNECTION ? (h.cid === c.cid ? LogoutResult.CLOSED : LogoutResult.CID_NOT_FOUND)
      : LogoutResult.RECOVERY_NOT_SUPPORTED;
    const finish = () => c.guard(() => {
      c.send(LogoutResponse, {
        final: true, response, itt: h.itt, statSN: c.nextStatSN(), expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN,
        time2Wait: response === LogoutResult.CLOSED ? 0 : c.params.defaultTime2Wait, time2Retain: 0,
      });
      if (response === LogoutResult.CLOSED) c.closeAfterFlush("logout");
    });
    if (response !== LogoutResult.CLOSED) return finish();
    // Outstanding commands complete before the Logout Response (RFC 7143 §11.14).
    c.state = "logout";
    void quiesce(s.liveTasks().map((t) => t.done)).then(finish);
  });
}

/**
 * Asks the initiator to log out: Async Message, AsyncEvent 1 "target requests Logout"
 * (RFC 7143 §11.9.1); Parameter3 is the time in seconds it has to do so. The caller drops
 * the session if it does not.
 */
export function requestLogout(c: Connection, seconds: number): void {
  const s = c.session;
  if (c.state !== "ffp" || !s) return;
  c.send(AsyncMessage, {
    final: true, lun: 0, itt: RESERVED_TAG, statSN: c.nextStatSN(), expCmdSN: s.expCmdSN, maxCmdSN: s.maxCmdSN,
    asyncEvent: 1, asyncVCode: 0, parameter1: 0, parameter2: 0, parameter3: Math.max(0, Math.min(0xffff, Math.round(seconds))),
  });
}
