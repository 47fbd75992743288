/**
 * Login Request / Response on the wire (RFC 7143 §6, §11.12, §11.13). The negotiation itself
 * is login.ts's LoginMachine; this is the PDU flow around it, read top to bottom (FreeBSD ctld
 * style): check the opcode, remember StatSN and CID from the first request, let the machine
 * answer, bound the answer, and either continue, fail, or hand the connection to full feature
 * phase with the session the fabric built.
 */
import { LoginStatus, loginSequenceProblem, protocolError, type LoginFailure, type LoginReply } from "../login";
import { LoginRequest, LoginResponse, Opcode, opcodeOf, type LoginRequestHeader, type Pdu } from "../pdu";
import { Session, StatSNUse } from "../session";
import { encodeText } from "../text";
import type { ConnectionPort } from "./port";

/** Login PDUs are bounded by the login-phase MaxRecvDataSegmentLength (RFC 7143 §13.12). */
const LOGIN_MAX_DATA = 8192;

export function handleLoginPdu(c: ConnectionPort, pdu: Pdu): void {
  if (pdu.opcode !== Opcode.LOGIN_REQUEST) {
    // RFC 7143 §6.3: only Login Requests before the login completes.
    c.host.log("warn", `iSCSI opcode 0x${pdu.opcode.toString(16)} during login; dropping the connection`, { remote: c.describe });
    c.destroy("non-login PDU during login");
    return;
  }
  const h = LoginRequest.decode(pdu.bhs);
  const first = !c.login.first;
  if (first) {
    // RFC 7143 §11.13.4: the first Login Response's StatSN starts the connection's StatSN.
    c.beginLogin(h);
    // A throttled address is refused before its keys are looked at: no guess is evaluated.
    const refused = c.loginRefusal();
    if (refused) return failLogin(c, h, refused);
  } else {
    const why = loginSequenceProblem(h, c.login.first!, c.statSN);
    if (why) return failLogin(c, h, protocolError(why));
  }
  const reply = c.login.handle(h, pdu.data);
  if (reply.outcome === "fail") return failLogin(c, h, reply.failure!);
  // Once the TPG is known its login_timeout attribute applies (unless the fabric overrides it).
  if (first && c.login.tpg && c.host.loginTimeoutMs === undefined) {
    c.startLoginTimer((c.login.tpg.attributes.login_timeout ?? 15) * 1000);
  }
  const data = encodeText(reply.keys);
  // Bound our answer (NotUnderstood amplification, CVE-2026-63887): it must fit the initiator's 8192.
  if (data.length > LOGIN_MAX_DATA) {
    return failLogin(c, h, { status: LoginStatus.INITIATOR_ERROR, reason: "protocol error", message: "login answer exceeds 8192 bytes" });
  }
  if (reply.outcome === "continue") return sendLoginResponse(c, h, reply, 0, data);

  const result = c.completeLogin(h);
  if (!(result instanceof Session)) return failLogin(c, h, result);
  // The final Login Response carries the session's window (ExpCmdSN = the login's CmdSN, MaxCmdSN by its depth).
  c.bindSession(result);
  sendLoginResponse(c, h, reply, result.tsih, data);
  c.enterFullFeaturePhase();
}

/**
 * A failed login: answer with the status class and detail, then close (RFC 7143 §11.13.5).
 * Without a decoded request (a framing error), the raw BHS is used when it is a Login Request.
 */
export function failLogin(c: ConnectionPort, h: LoginRequestHeader | undefined, failure: LoginFailure, rawBhs?: Buffer): void {
  const req = h ?? (rawBhs && opcodeOf(rawBhs) === Opcode.LOGIN_REQUEST ? LoginRequest.decode(rawBhs) : undefined);
  c.loginFailed(failure);
  if (req) {
    // A first Login Request refused before it was read (a framing error) still starts the StatSN.
    if (!c.login.first && !h) c.beginLogin(req);
    sendLoginResponse(c, req, { transit: false, csg: req.csg, nsg: 0, keys: [], outcome: "fail" }, 0, EMPTY, failure.status);
  }
  // Refused on a framing error (no decoded request), the rest of an oversized PDU may still be arriving: wait for the peer's FIN.
  c.closeAfterFlush("login failed", h === undefined);
}

const EMPTY = Buffer.alloc(0);

function sendLoginResponse(c: ConnectionPort, h: LoginRequestHeader, reply: LoginReply, tsih: number, data: Buffer, status = 0): void {
  c.send(LoginResponse, {
    transit: reply.transit, cont: false, csg: reply.csg, nsg: reply.nsg, versionMax: 0, versionActive: 0,
    isid: h.isid, tsih, itt: h.itt, statusClass: status >> 8, statusDetail: status & 0xff,
  }, data, StatSNUse.ADVANCE);
}
