/**
 * Persistent reservations (SPC-4 §5.12, §6.13, §6.14) and SPC-2 RESERVE/RELEASE,
 * as a pure state machine: no I/O, no clock. PR OUT service actions change the
 * state and return the unit attentions to queue; conflicts() decides whether a
 * command from a nexus meets a RESERVATION CONFLICT.
 */
import { Asc, SenseError, SenseKey, invalidFieldInCdb, invalidFieldInParameterList, parameterListLengthError } from "./sense";

export const PrType = {
  WRITE_EXCLUSIVE: 0x1,
  EXCLUSIVE_ACCESS: 0x3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 0x5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 0x6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 0x7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 0x8,
} as const;
const VALID_TYPES = new Set<number>(Object.values(PrType));

export const PrOutAction = {
  REGISTER: 0x0,
  RESERVE: 0x1,
  RELEASE: 0x2,
  CLEAR: 0x3,
  PREEMPT: 0x4,
  PREEMPT_AND_ABORT: 0x5,
  REGISTER_AND_IGNORE_EXISTING_KEY: 0x6,
  REGISTER_AND_MOVE: 0x7,
} as const;

export const PrInAction = { READ_KEYS: 0x0, READ_RESERVATION: 0x1, REPORT_CAPABILITIES: 0x2, READ_FULL_STATUS: 0x3 } as const;

/** The I_T nexus as reservations see it (initiator port + target port). */
export interface PrNexus {
  /** NexusIdentity.key. */
  key: string;
  initiatorName: string;
  isid: string;
  /** "<target iqn>,t,0x<tpgt>". */
  targetPort: string;
  relativeTargetPortId: number;
}

export interface Registration {
  key: bigint;
  initiatorName: string;
  /** undefined when registered through a TransportID without ISID (matches every ISID). */
  isid?: string;
  targetPort: string;
  relativeTargetPortId: number;
  allTargetPorts: boolean;
}

export interface Reservation {
  /** The holder's registration (for all-registrants types, every registrant holds it). */
  holder: Registration;
  type: number;
}

/** Serializable state for APTPL (SPC-4 §5.12.5): what survives a power loss. */
export interface PrSavedState {
  generation: number;
  registrations: { key: string; initiatorName: string; isid?: string; targetPort: string; relativeTargetPortId: number; allTargetPorts: boolean }[];
  reservation?: { holderIndex: number; type: number };
}

/**
 * The whole reservation state of one LU as a shared store keeps it (a cluster: etcd): the
 * persistent part (PrSavedState) plus APTPL and the SPC-2 RESERVE holder. JSON-safe.
 */
export interface PrSharedState extends PrSavedState {
  aptpl: boolean;
  /** SPC-2 RESERVE holder, a NexusIdentity.key (initiator port + target port: unique across gateways). */
  spc2Holder?: string;
}

/**
 * Where an LU's reservation state is committed besides this process's memory. Unset on a single
 * appliance: PR OUT changes the state in memory and answers at once, exactly as before. Set (a
 * cluster, server/cluster/pr-store.ts), every change goes through update() and its status waits
 * for the commit: the engine stays free of how and where the state is kept.
 */
export interface PrStore {
  /**
   * Runs `change` on a scratch copy of the newest state the store knows and commits the result
   * before resolving with the unit attentions `change` returned; the device's `pr` then holds the
   * committed state (its other nexuses and gateways obey it from then on). `change` may run more
   * than once: a commit that loses a race is retried against the newer state, so the answer is the
   * one a single target would give. A ReservationConflict or SenseError thrown by `change` rejects
   * with that error and commits nothing; a store that cannot commit rejects with a SenseError.
   */
  update(change: (pr: PersistentReservations) => PrUnitAttention[]): Promise<PrUnitAttention[]>;
  /**
   * The LU was reset through this gateway (LUN RESET, a target reset): the other gateways queue
   * 29h/03h BUS DEVICE RESET FUNCTION OCCURRED for every nexus of the LU they serve, as SAM-5
   * §6.3.3 asks of every I_T nexus of the LU (libiscsi's MultipathIO.Reset checks it on the other
   * path). Resolves once the live gateways have it, so the TMF response comes after, as on one
   * target; never rejects (a store that cannot commit reports it itself).
   */
  announceReset?(): Promise<void>;
}

/** A unit attention to queue for a nexus matching a registration. */
export interface PrUnitAttention {
  registration: Registration;
  code: readonly [number, number];
}

/**
 * How a command meets reservations: "none" never conflicts (INQUIRY, REPORT LUNS, REQUEST SENSE,
 * RESERVE/RELEASE which decide themselves); "spc2" only meets another nexus's SPC-2 reservation
 * (TEST UNIT READY, READ CAPACITY, PR IN/OUT ...: allowed under every persistent reservation type);
 * "read" and "write" follow the persistent reservation type (SPC-4 §5.12.1).
 */
export type ConflictKind = "none" | "spc2" | "read" | "write";

export class ReservationConflict extends Error {
  constructor() {
    super("reservation conflict");
  }
}

export interface PrOutParams {
  reservationKey: bigint;
  serviceActionKey: bigint;
  specIPt: boolean;
  allTgPt: boolean;
  aptpl: boolean;
  /** REGISTER AND MOVE */
  unreg?: boolean;
  relativeTargetPortId?: number;
  transportId?: { initiatorName: string; isid?: string };
}

/** Parses the PR OUT parameter list (SPC-4 §6.14.3, §6.14.4). */
export function parsePrOutParams(sa: number, data: Buffer, listLength: number): PrOutParams {
  if (sa === PrOutAction.REGISTER_AND_MOVE) {
    if (listLength < 24 || data.length < 24) throw parameterListLengthError();
    const tidLen = data.readUInt32BE(20);
    if (24 + tidLen > data.length) throw parameterListLengthError();
    return {
      reservationKey: data.readBigUInt64BE(0),
      serviceActionKey: data.readBigUInt64BE(8),
      specIPt: false,
      allTgPt: false,
      unreg: (data[17] & 0x02) !== 0,
      aptpl: (data[17] & 0x01) !== 0,
      relativeTargetPortId: data.readUInt16BE(18),
      transportId: parseTransportId(data.subarray(24, 24 + tidLen)),
    };
  }
  const specIPt = data.length >= 21 && (data[20] & 0x08) !== 0;
  // Without SPEC_I_PT the list is exactly 24 bytes (SPC-4 §6.14.3).
  if (!specIPt && listLength !== 24) throw parameterListLengthError();
  if (data.length < 24) throw parameterListLengthError();
  return {
    reservationKey: data.readBigUInt64BE(0),
    serviceActionKey: data.readBigUInt64BE(8),
    specIPt,
    allTgPt: (data[20] & 0x04) !== 0,
    aptpl: (data[20] & 0x01) !== 0,
  };
}

/** iSCSI TransportID (SPC-4 §7.6.4.6): format 00b name only, 01b "name,i,0x<isid>". */
export function parseTransportId(tid: Buffer): { initiatorName: string; isid?: string } {
  if (tid.length < 4) throw invalidFieldInParameterList(24);
  const format = tid[0] >> 6;
  const proto = tid[0] & 0x0f;
  if (proto !== 0x5 || format > 1) throw invalidFieldInParameterList(24);
  const len = tid.readUInt16BE(2);
  const text = tid.subarray(4, 4 + len).toString("utf8").replace(/\0.*$/s, "");
  if (format === 0) return { initiatorName: text.toLowerCase() };
  const m = /^(.*),i,0x([0-9a-f]{12})$/i.exec(text);
  if (!m) throw invalidFieldInParameterList(24);
  return { initiatorName: m[1].toLowerCase(), isid: m[2].toLowerCase() };
}

/** The iSCSI TransportID of a registration, format 01b when the ISID is known, padded to 4. */
export function transportId(r: Registration): Buffer {
  const text = r.isid ? `${r.initiatorName},i,0x${r.isid}` : r.initiatorName;
  const n = Math.max(20, Math.ceil((Buffer.byteLength(text) + 1) / 4) * 4);
  const b = Buffer.alloc(4 + n);
  b[0] = ((r.isid ? 1 : 0) << 6) | 0x5;
  b.writeUInt16BE(n, 2);
  b.write(text, 4, "utf8");
  return b;
}

function isAllRegistrants(type: number): boolean {
  return type === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS || type === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
}
function isRegistrantsType(type: number): boolean {
  return type >= PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY;
}

export class PersistentReservations {
  /** PRgeneration (SPC-4 §6.13.2): bumped by REGISTER, CLEAR, PREEMPT, REGISTER AND MOVE. */
  generation = 0;
  registrations: Registration[] = [];
  reservation: Reservation | undefined;
  /** Activate Persist Through Power Loss, as last set by a REGISTER. */
  aptpl = false;
  /** SPC-2 RESERVE(6/10) holder (nexus key). */
  spc2Holder: string | undefined;
  /** The shared store changes are committed to (a cluster); undefined on a single appliance. */
  store: PrStore | undefined;

  /**
   * Is the nexus this registration's I_T nexus? A registration made with ALL_TG_PT=1 registers the
   * initiator port through every target port (SPC-4 §5.12.7), here or on another gateway.
   */
  matches(r: Registration, n: PrNexus): boolean {
    return (
      r.initiatorName === n.initiatorName.toLowerCase() &&
      (r.allTargetPorts || r.targetPort === n.targetPort) &&
      (r.isid === undefined || r.isid === n.isid.toLowerCase())
    );
  }

  registrationOf(n: PrNexus): Registration | undefined {
    return this.registrations.find((r) => this.matches(r, n));
  }

  isHolder(n: PrNexus): boolean {
    const res = this.reservation;
    if (!res) return false;
    if (isAllRegistrants(res.type)) return this.registrationOf(n) !== undefined;
    return this.matches(res.holder, n);
  }

  private bump(): void {
    this.generation = (this.generation + 1) >>> 0;
  }

  /**
   * Does a command meet a RESERVATION CONFLICT (SPC-4 §5.12.1 table, SPC-2 §7.21)?
   * `kind` "always" commands never conflict; "read" conflict only under exclusive-access types.
   */
  conflicts(n: PrNexus, kind: ConflictKind): boolean {
    if (kind === "none") return false;
    if (this.spc2Holder !== undefined && this.spc2Holder !== n.key) return true;
    if (kind === "spc2") return false;
    const res = this.reservation;
    if (!res || this.isHolder(n)) return false;
    const registered = this.registrationOf(n) !== undefined;
    switch (res.type) {
      case PrType.WRITE_EXCLUSIVE:
        return kind === "write";
      case PrType.EXCLUSIVE_ACCESS:
        return true;
      case PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY:
      case PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS:
        return !registered && kind === "write";
      default:
        return !registered;
    }
  }

  // ---- SPC-2 -------------------------------------------------------------

  /** RESERVE(6/10): refused while another nexus holds it or a persistent reservation exists. */
  reserveSpc2(n: PrNexus): void {
    if (this.reservation || this.registrations.length > 0) {
      if (this.reservation) throw new ReservationConflict();
    }
    if (this.spc2Holder !== undefined && this.spc2Holder !== n.key) throw new ReservationConflict();
    this.spc2Holder = n.key;
  }

  /** RELEASE(6/10): only the holder releases; anyone else gets GOOD and nothing changes (SPC-2 §7.17). */
  releaseSpc2(n: PrNexus): void {
    if (this.spc2Holder === n.key) this.spc2Holder = undefined;
  }

  // ---- PR OUT ------------------------------------------------------------

  /** Executes a PR OUT service action; returns the unit attentions to queue. Throws ReservationConflict or SenseError. */
  out(n: PrNexus, sa: number, scope: number, type: number, p: PrOutParams): PrUnitAttention[] {
    switch (sa) {
      case PrOutAction.REGISTER:
      case PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY:
        return this.register(n, p, sa === PrOutAction.REGISTER_AND_IGNORE_EXISTING_KEY);
      case PrOutAction.RESERVE:
        return this.reserve(n, scope, type, p);
      case PrOutAction.RELEASE:
        return this.release(n, scope, type, p);
      case PrOutAction.CLEAR:
        return this.clear(n, p);
      case PrOutAction.PREEMPT:
      case PrOutAction.PREEMPT_AND_ABORT:
        return this.preempt(n, scope, type, p);
      case PrOutAction.REGISTER_AND_MOVE:
        return this.registerAndMove(n, scope, type, p);
      default:
        throw invalidFieldInCdb(1, 4);
    }
  }

  private checkKey(n: PrNexus, p: PrOutParams): Registration {
    const reg = this.registrationOf(n);
    if (!reg || reg.key !== p.reservationKey) throw new ReservationConflict();
    return reg;
  }

  private register(n: PrNexus, p: PrOutParams, ignore: boolean): PrUnitAttention[] {
    // SPEC_I_PT registers other initiators' ports: not supported (REPORT CAPABILITIES says SIP_C=0).
    if (p.specIPt) throw invalidFieldInParameterList(20, 3);
    const reg = this.registrationOf(n);
    if (!reg) {
      if (!ignore && p.reservationKey !== 0n) throw new ReservationConflict();
      if (p.serviceActionKey === 0n) return [];
      this.registrations.push({
        key: p.serviceActionKey,
        initiatorName: n.initiatorName.toLowerCase(),
        isid: n.isid.toLowerCase(),
        targetPort: n.targetPort,
        relativeTargetPortId: n.relativeTargetPortId,
        allTargetPorts: p.allTgPt,
      });
      this.aptpl = p.aptpl;
      this.bump();
      return [];
    }
    if (!ignore && reg.key !== p.reservationKey) throw new ReservationConflict();
    this.aptpl = p.aptpl;
    this.bump();
    if (p.serviceActionKey !== 0n) {
      reg.key = p.serviceActionKey;
      return [];
    }
    return this.unregister(reg);
  }

  /** Removes a registration, releasing the reservation it holds (SPC-4 §5.12.11.2.3). */
  private unregister(reg: Registration): PrUnitAttention[] {
    this.registrations = this.registrations.filter((r) => r !== reg);
    const res = this.reservation;
    if (!res) return [];
    if (isAllRegistrants(res.type)) {
      if (this.registrations.length === 0) this.reservation = undefined;
      else if (res.holder === reg) res.holder = this.registrations[0];
      return [];
    }
    if (res.holder !== reg) return [];
    this.reservation = undefined;
    // Registrants-only reservation released by unregistering: the others learn it (2Ah/04h).
    return isRegistrantsType(res.type) ? this.registrations.map((r) => ({ registration: r, code: Asc.RESERVATIONS_RELEASED })) : [];
  }

  private reserve(n: PrNexus, scope: number, type: number, p: PrOutParams): PrUnitAttention[] {
    const reg = this.checkKey(n, p);
    if (scope !== 0) throw invalidFieldInCdb(2, 7);
    if (!VALID_TYPES.has(type)) throw invalidFieldInCdb(2, 3);
    const res = this.reservation;
    if (res) {
      if (this.isHolder(n) && res.type === type) return [];
      throw new ReservationConflict();
    }
    this.reservation = { holder: reg, type };
    return [];
  }

  private release(n: PrNexus, scope: number, type: number, p: PrOutParams): PrUnitAttention[] {
    this.checkKey(n, p);
    const res = this.reservation;
    if (!res || !this.isHolder(n)) return [];
    if (scope !== 0 || res.type !== type) {
      // SPC-4 §5.12.11.2.2: INVALID RELEASE OF PERSISTENT RESERVATION.
      throw new SenseError(SenseKey.ILLEGAL_REQUEST, [0x26, 0x04]);
    }
    this.reservation = undefined;
    if (res.type === PrType.WRITE_EXCLUSIVE || res.type === PrType.EXCLUSIVE_ACCESS) return [];
    return this.registrations.filter((r) => !this.matches(r, n)).map((r) => ({ registration: r, code: Asc.RESERVATIONS_RELEASED }));
  }

  private clear(n: PrNexus, p: PrOutParams): PrUnitAttention[] {
    this.checkKey(n, p);
    const others = this.registrations.filter((r) => !this.matches(r, n));
    this.registrations = [];
    this.reservation = undefined;
    this.bump();
    return others.map((r) => ({ registration: r, code: Asc.RESERVATIONS_PREEMPTED }));
  }

  private preempt(n: PrNexus, scope: number, type: number, p: PrOutParams): PrUnitAttention[] {
    const reg = this.checkKey(n, p);
    const res = this.reservation;
    const uas: PrUnitAttention[] = [];
    const removeMatching = (pred: (r: Registration) => boolean) => {
      const gone = this.registrations.filter((r) => r !== reg && pred(r));
      this.registrations = this.registrations.filter((r) => !gone.includes(r));
      for (const r of gone) uas.push({ registration: r, code: Asc.REGISTRATIONS_PREEMPTED });
      return gone.length;
    };
    if (res && isAllRegistrants(res.type)) {
      if (p.serviceActionKey === 0n) {
        // SPC-4 §5.12.11.4.4: every other registrant goes, the issuer gets the new reservation.
        if (scope !== 0) throw invalidFieldInCdb(2, 7);
        if (!VALID_TYPES.has(type)) throw invalidFieldInCdb(2, 3);
        removeMatching(() => true);
        this.reservation = { holder: reg, type };
      } else {
        removeMatching((r) => r.key === p.serviceActionKey);
      }
      this.bump();
      return uas;
    }
    if (p.serviceActionKey === 0n) throw invalidFieldInParameterList(8);
    if (!res) {
      if (!this.registrations.some((r) => r.key === p.serviceActionKey)) throw new ReservationConflict();
      removeMatching((r) => r.key === p.serviceActionKey);
      this.bump();
      return uas;
    }
    if (res.holder.key === p.serviceActionKey) {
      // Preempting the holder: its registrations go and the issuer holds a reservation of the new type.
      if (scope !== 0) throw invalidFieldInCdb(2, 7);
      if (!VALID_TYPES.has(type)) throw invalidFieldInCdb(2, 3);
      removeMatching((r) => r.key === p.serviceActionKey);
      const changed = res.type !== type;
      this.reservation = { holder: reg, type };
      if (changed) {
        for (const r of this.registrations) if (r !== reg && !uas.some((u) => u.registration === r)) uas.push({ registration: r, code: Asc.RESERVATIONS_RELEASED });
      }
      this.bump();
      return uas;
    }
    if (!this.registrations.some((r) => r.key === p.serviceActionKey)) throw new ReservationConflict();
    removeMatching((r) => r.key === p.serviceActionKey);
    this.bump();
    return uas;
  }

  private registerAndMove(n: PrNexus, scope: number, type: number, p: PrOutParams): PrUnitAttention[] {
    const reg = this.registrationOf(n);
    if (!reg) throw new ReservationConflict();
    if (reg.key !== p.reservationKey) throw new ReservationConflict();
    const res = this.reservation;
    // Only the holder of a reservation that is not all-registrants can move it (SPC-4 §5.12.8).
    if (!res || isAllRegistrants(res.type) || !this.matches(res.holder, n)) throw new ReservationConflict();
    if (p.serviceActionKey === 0n) throw invalidFieldInParameterList(8);
    const tid = p.transportId!;
    if (p.relativeTargetPortId !== n.relativeTargetPortId) throw invalidFieldInParameterList(18);
    if (tid.initiatorName === n.initiatorName.toLowerCase() && (tid.isid === undefined || tid.isid === n.isid.toLowerCase())) {
      // Moving to the issuing I_T nexus itself is an error (SPC-4 §6.14.4).
      throw invalidFieldInParameterList(24);
    }
    void scope;
    let dest = this.registrations.find(
      (r) => r.initiatorName === tid.initiatorName && r.targetPort === n.targetPort && r.isid === tid.isid,
    );
    if (!dest) {
      dest = {
        key: p.serviceActionKey,
        initiatorName: tid.initiatorName,
        isid: tid.isid,
        targetPort: n.targetPort,
        relativeTargetPortId: n.relativeTargetPortId,
        allTargetPorts: false,
      };
      this.registrations.push(dest);
    } else dest.key = p.serviceActionKey;
    this.reservation = { holder: dest, type };
    if (!VALID_TYPES.has(type)) this.reservation.type = res.type;
    if (p.unreg) this.registrations = this.registrations.filter((r) => r !== reg);
    this.aptpl = p.aptpl;
    this.bump();
    return [];
  }

  /**
   * A LUN reset or nexus loss: SPC-2 reservations go; persistent ones stay (SPC-4 §5.12.1). With a
   * shared store the release is committed in the background (no command waits for it; until it
   * lands the other gateways still see the holder, which errs on the side of conflict).
   */
  resetSpc2(nexusKey?: string): void {
    if (this.spc2Holder === undefined || (nexusKey !== undefined && this.spc2Holder !== nexusKey)) return;
    if (!this.store) {
      this.spc2Holder = undefined;
      return;
    }
    // The store changes this object once committed.
    this.store
      .update((pr) => {
        if (nexusKey === undefined || pr.spc2Holder === nexusKey) pr.spc2Holder = undefined;
        return [];
      })
      .catch(() => undefined); // the store reports its own failures
  }

  // ---- PR IN -------------------------------------------------------------

  readKeys(): Buffer {
    const b = Buffer.alloc(8 + 8 * this.registrations.length);
    b.writeUInt32BE(this.generation, 0);
    b.writeUInt32BE(8 * this.registrations.length, 4);
    this.registrations.forEach((r, i) => b.writeBigUInt64BE(r.key, 8 + 8 * i));
    return b;
  }

  readReservation(): Buffer {
    const res = this.reservation;
    const b = Buffer.alloc(res ? 24 : 8);
    b.writeUInt32BE(this.generation, 0);
    if (res) {
      b.writeUInt32BE(16, 4);
      // All-registrants reservations report key 0 (SPC-4 §6.13.3.3).
      b.writeBigUInt64BE(isAllRegistrants(res.type) ? 0n : res.holder.key, 8);
      b[21] = res.type & 0x0f; // scope 0 (LU_SCOPE)
    }
    return b;
  }

  reportCapabilities(): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(8, 0);
    b[2] = 0x10 | 0x04 | 0x01; // CRH, ATP_C, PTPL_C
    b[3] = 0x80 | 0x10 | (this.aptpl ? 0x01 : 0); // TMV, ALLOW COMMANDS 001b, PTPL_A
    // PERSISTENT RESERVATION TYPE MASK: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX, EX_AC_AR.
    b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
    b[5] = 0x01;
    return b;
  }

  readFullStatus(): Buffer {
    const parts: Buffer[] = [];
    const res = this.reservation;
    for (const r of this.registrations) {
      const tid = transportId(r);
      const d = Buffer.alloc(24);
      d.writeBigUInt64BE(r.key, 0);
      const holder = res !== undefined && (isAllRegistrants(res.type) || res.holder === r);
      d[12] = (r.allTargetPorts ? 0x02 : 0) | (holder ? 0x01 : 0);
      if (holder) d[13] = res!.type & 0x0f;
      d.writeUInt16BE(r.relativeTargetPortId, 18);
      d.writeUInt32BE(tid.length, 20);
      parts.push(d, tid);
    }
    const body = Buffer.concat(parts);
    const h = Buffer.alloc(8);
    h.writeUInt32BE(this.generation, 0);
    h.writeUInt32BE(body.length, 4);
    return Buffer.concat([h, body]);
  }

  // ---- shared state (a cluster's store) -------------------------------------

  /** Everything a store keeps, JSON-safe. */
  snapshot(): PrSharedState {
    return { ...this.save(), aptpl: this.aptpl, ...(this.spc2Holder !== undefined ? { spc2Holder: this.spc2Holder } : {}) };
  }

  /** Replaces the whole state with a store's (the store itself is kept). */
  restore(s: PrSharedState): void {
    this.load(s);
    this.aptpl = s.aptpl === true;
    this.spc2Holder = s.spc2Holder;
  }

  /** A scratch copy without a store, for PrStore.update()'s change. */
  static from(s: PrSharedState): PersistentReservations {
    const pr = new PersistentReservations();
    pr.restore(s);
    return pr;
  }

  // ---- APTPL ---------------------------------------------------------------

  save(): PrSavedState {
    return {
      generation: this.generation,
      registrations: this.registrations.map((r) => ({ ...r, key: r.key.toString() })),
      reservation: this.reservation ? { holderIndex: this.registrations.indexOf(this.reservation.holder), type: this.reservation.type } : undefined,
    };
  }

  load(s: PrSavedState): void {
    this.generation = s.generation >>> 0;
    this.registrations = s.registrations.map((r) => ({ ...r, key: BigInt(r.key) }));
    const h = s.reservation && this.registrations[s.reservation.holderIndex];
    this.reservation = h ? { holder: h, type: s.reservation!.type } : undefined;
    this.aptpl = true;
  }
}
