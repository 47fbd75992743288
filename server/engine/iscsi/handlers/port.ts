/**
 * What an opcode handler may do with its connection: read what was negotiated and who is
 * on the other end, send PDUs (whose sequence numbers the connection stamps), and ask for
 * the few state changes the protocol defines (login begun, full feature phase, logout).
 * Handlers never write the connection's fields; Connection implements this interface.
 */
import type { IoHandle, LunCounters } from "../../core/stats";
import type { ScsiDevice } from "../../scsi/types";
import type { ConnectionHost } from "../connection";
import type { LoginFailure, LoginMachine } from "../login";
import type { SessionParams } from "../negotiation";
import type { DataInHeader, LoginRequestHeader, PduCodec } from "../pdu";
import type { SequenceFields, Session, StatSNUse, Task, Unstamped } from "../session";

export type ConnectionState = "login" | "ffp" | "logout" | "closed";

/** What handlers use of the fabric directly; what concerns their connection goes through the port. */
export type HandlerHost = Pick<ConnectionHost, "engine" | "log" | "stats" | "dispatch" | "allSessions" | "closeSession" | "loginTimeoutMs">;

export interface ConnectionPort {
  readonly host: HandlerHost;
  readonly state: ConnectionState;
  readonly session: Session | undefined;
  /** What the session runs with (login-phase values until full feature phase). */
  readonly params: SessionParams;
  readonly cid: number;
  /** The StatSN the next response will carry. */
  readonly statSN: number;
  readonly login: LoginMachine;
  readonly describe: string;
  readonly localAddress: string;
  readonly remoteAddress: string;
  /** The one Data-In header this connection reuses (its sequence numbers are stamped by send). */
  readonly dataInHdr: DataInHeader;

  /** Queues a PDU; StatSN, ExpCmdSN and MaxCmdSN are stamped here, and only here (session.ts stampSequence). */
  send<H extends SequenceFields>(codec: PduCodec<H>, header: Unstamped<H>, data: Buffer | undefined, statSN: StatSNUse, onWritten?: (err?: Error | null) => void): void;
  reject(reason: number, bhs: Buffer): void;
  protocolFailure(reason: number, bhs: Buffer, why: string): void;
  /** Closes once what was sent has left; `waitForPeer`: half-close and wait for the peer's FIN (it may still be sending). */
  closeAfterFlush(reason: string, waitForPeer?: boolean): void;
  destroy(reason: string): void;
  guard(fn: () => void): void;

  /** First Login Request: StatSN starts at its ExpStatSN, the CID and the login's CmdSN are kept (RFC 7143 §11.13.4). */
  beginLogin(h: LoginRequestHeader): void;
  startLoginTimer(ms: number): void;
  /** A reason to refuse the login before evaluating it (the address is throttled). */
  loginRefusal(): LoginFailure | undefined;
  /** Turns the completed login into a session (the fabric: TSIH, reinstatement), or refuses it. */
  completeLogin(h: LoginRequestHeader): Session | LoginFailure;
  /** Counts and records a refused login (the fabric). */
  loginFailed(failure: LoginFailure): void;
  /** The login completed: the session answers for the window from the final Login Response on. */
  bindSession(session: Session): void;
  enterFullFeaturePhase(): void;
  /** A Logout Request was accepted: no new commands while outstanding ones finish (RFC 7143 §11.14). */
  stopAccepting(): void;
  /** A renegotiated MaxRecvDataSegmentLength of the initiator applies to what we send next. */
  setMaxXmitDataSegmentLength(n: number): void;

  /** A command now waits for Data-Out (dataout_timeout). */
  watchDataOut(): void;
  handleFor(lun: number): IoHandle;
  lunStats(lun: number): LunCounters | undefined;
  /** A noteworthy event on this connection (a unit attention reported, a reset requested), for the event log. */
  notice(type: "unit_attention" | "reset", fields: Record<string, unknown>): void;
  abortNexusTasks(issuer: Task, nexusKeys: ReadonlySet<string>, device: ScsiDevice, tas: boolean): Promise<void>;
}
