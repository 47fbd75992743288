/**
 * INQUIRY data (SPC-4 §6.6): standard data and the VPD pages LIO emulates for a
 * disk (spc_emulate_inquiry_std / spc_emulate_evpd_*). Pure builders.
 */
import type { DeviceInfo, NexusIdentity } from "./types";

/** IEEE company ID LIO uses for its NAA designators (OpenFabrics). */
export const LIO_COMPANY_ID = 0x001405;
/** iSCSI protocol identifier (SPC-4 §7.6.1, table 362). */
export const PROTOCOL_ISCSI = 0x5;
/** Target port group of a LUN without ALUA data: LIO's default_tg_pt_gp has id 0. */
export const DEFAULT_TARGET_PORT_GROUP = 0;
/** TPGS field without ALUA data: implicit ALUA (SPC-4 §6.6.2): REPORT TARGET PORT GROUPS, no SET. */
export const TPGS_IMPLICIT = 0x1;

function ascii(buf: Buffer, off: number, len: number, text: string): void {
  buf.fill(0x20, off, off + len);
  buf.write(text.slice(0, len), off, "ascii");
}

/**
 * Standard INQUIRY data, 96 bytes (additional length 91). `tpgs`: the TPGS field, the alua_access_type
 * of the group of the port asked (LIO spc_emulate_inquiry_std): 1 implicit, 2 explicit, 3 both.
 */
export function standardInquiry(info: DeviceInfo, tpgs: number = TPGS_IMPLICIT): Buffer {
  const b = Buffer.alloc(96);
  b[0] = 0x00; // peripheral qualifier 000b, direct access block device
  b[2] = 0x06; // VERSION: SPC-4
  b[3] = 0x02; // RESPONSE DATA FORMAT 2
  b[4] = 96 - 5;
  b[5] = 0x80 | ((tpgs & 0x3) << 4) | (info.attributes.emulate_3pc ? 0x08 : 0) | (info.attributes.pi_prot_type ? 0x01 : 0);
  b[7] = 0x02; // CmdQue: full task management model
  ascii(b, 8, 8, info.vendorId);
  ascii(b, 16, 16, info.productId);
  ascii(b, 32, 4, info.revision);
  // Version descriptors (SPC-4 §6.6.2 table 146): SAM-5, iSCSI, SPC-4, SBC-3.
  b.writeUInt16BE(0x00a0, 58);
  b.writeUInt16BE(0x0960, 60);
  b.writeUInt16BE(0x0460, 62);
  b.writeUInt16BE(0x04c0, 64);
  return b;
}

/** INQUIRY data for a LUN the nexus cannot address: qualifier 011b, type 1Fh (SPC-4 §6.6.2). */
export function unmappedInquiry(): Buffer {
  const b = Buffer.alloc(36);
  b[0] = 0x7f;
  b[2] = 0x06;
  b[3] = 0x02;
  b[4] = 31;
  return b;
}

export const SUPPORTED_VPD_PAGES = [0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1, 0xb2] as const;

function vpdPage(code: number, body: Buffer): Buffer {
  const b = Buffer.alloc(4 + body.length);
  b[0] = 0x00;
  b[1] = code;
  b.writeUInt16BE(body.length, 2);
  body.copy(b, 4);
  return b;
}

export function vpdSupportedPages(): Buffer {
  return vpdPage(0x00, Buffer.from(SUPPORTED_VPD_PAGES));
}

/** Unit serial number page: the wwn (LIO vpd_unit_serial). */
export function vpdUnitSerial(info: DeviceInfo): Buffer {
  return vpdPage(0x80, Buffer.from(info.wwn, "ascii"));
}

/**
 * NAA IEEE Registered Extended designator (type 6h, SPC-4 §7.8.6.6.4): company ID
 * 0x001405, then the hex digits of the unit serial packed as nibbles into the 36-bit
 * VENDOR SPECIFIC IDENTIFIER and 64-bit extension, the way LIO derives it, so a LUN keeps
 * its identity when moved between LIO and Portico.
 */
export function naaDesignator(wwn: string): Buffer {
  const b = Buffer.alloc(16);
  b[0] = 0x60 | ((LIO_COMPANY_ID >> 20) & 0x0f);
  b[1] = (LIO_COMPANY_ID >> 12) & 0xff;
  b[2] = (LIO_COMPANY_ID >> 4) & 0xff;
  b[3] = (LIO_COMPANY_ID & 0x0f) << 4;
  let nibble = 7; // index of the next nibble: byte 3, low half
  for (const ch of wwn) {
    const v = parseInt(ch, 16);
    if (Number.isNaN(v)) continue;
    if (nibble >= 32) break;
    const byte = nibble >> 1;
    b[byte] |= nibble & 1 ? v : v << 4;
    nibble++;
  }
  return b;
}

function designator(codeSet: number, piv: boolean, association: number, type: number, data: Buffer, protocol = 0): Buffer {
  const h = Buffer.alloc(4 + data.length);
  h[0] = (protocol << 4) | codeSet;
  h[1] = (piv ? 0x80 : 0) | (association << 4) | type;
  h[3] = data.length;
  data.copy(h, 4);
  return h;
}

/** A SCSI name string: UTF-8, NUL-terminated, padded to a multiple of 4 (SPC-4 §7.8.6.11). */
function nameString(name: string): Buffer {
  const raw = Buffer.from(name, "utf8").subarray(0, 251);
  const len = Math.ceil((raw.length + 1) / 4) * 4;
  const b = Buffer.alloc(len);
  raw.copy(b);
  return b;
}

export interface PortIdentity {
  relativeTargetPortId: number;
  /** TARGET PORT GROUP of the port (its ALUA group's tg_pt_gp_id); default_tg_pt_gp's 0 when absent. */
  targetPortGroup?: number;
  identity: NexusIdentity;
}

/** The designators of VPD 0x83, also used alone by EXTENDED COPY target descriptors. */
export function vpdDeviceIdentification(info: DeviceInfo, port: PortIdentity): Buffer {
  const parts: Buffer[] = [];
  // 1. NAA IEEE Registered Extended, associated with the logical unit.
  parts.push(designator(0x1, false, 0, 0x3, naaDesignator(info.wwn)));
  // 2. T10 vendor ID: vendor (8, space padded) + "<product>:<serial>" + NUL (as LIO).
  const t10 = Buffer.alloc(8 + Buffer.byteLength(`${info.productId}:${info.wwn}`) + 1);
  ascii(t10, 0, 8, info.vendorId);
  t10.write(`${info.productId}:${info.wwn}`, 8, "ascii");
  parts.push(designator(0x2, false, 0, 0x1, t10));
  // 3. Relative target port identifier (association: target port), PIV with iSCSI.
  const rtpi = Buffer.alloc(4);
  rtpi.writeUInt16BE(port.relativeTargetPortId & 0xffff, 2);
  parts.push(designator(0x1, true, 1, 0x4, rtpi, PROTOCOL_ISCSI));
  // 4. Target port group.
  const tpg = Buffer.alloc(4);
  tpg.writeUInt16BE(port.targetPortGroup ?? DEFAULT_TARGET_PORT_GROUP, 2);
  parts.push(designator(0x1, true, 1, 0x5, tpg, PROTOCOL_ISCSI));
  // 5. SCSI name string of the target port: "<iqn>,t,0x<tpgt>" (RFC 7143 §13.1 port name).
  const { targetName, targetPort } = port.identity;
  parts.push(designator(0x3, true, 1, 0x8, nameString(targetPort), PROTOCOL_ISCSI));
  // 6. SCSI name string of the target device.
  parts.push(designator(0x3, true, 2, 0x8, nameString(targetName), PROTOCOL_ISCSI));
  return vpdPage(0x83, Buffer.concat(parts));
}

/** Extended INQUIRY Data (SPC-4 §7.8.7). */
export function vpdExtendedInquiry(info: DeviceInfo, writeCache: boolean): Buffer {
  const body = Buffer.alloc(0x3c);
  body[1] = 0x07; // HEADSUP | ORDSUP | SIMPSUP
  body[2] = writeCache ? 0x01 : 0x00; // V_SUP
  void info;
  return vpdPage(0x86, body);
}

export interface BlockLimits {
  maxCompareAndWriteBlocks: number;
  maxTransferLength: number;
  optimalTransferLength: number;
  maxUnmapLbaCount: number;
  maxUnmapDescriptors: number;
  unmapGranularity: number;
  unmapGranularityAlignment: number;
  maxWriteSameLength: number;
  thinProvisioning: boolean;
}

/** Block Limits (SBC-3 §6.5.3), page length 3Ch. */
export function vpdBlockLimits(l: BlockLimits): Buffer {
  const body = Buffer.alloc(0x3c);
  body[0] = 0x01; // WSNZ: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is refused
  body[1] = l.maxCompareAndWriteBlocks;
  body.writeUInt16BE(1, 2); // OPTIMAL TRANSFER LENGTH GRANULARITY
  body.writeUInt32BE(l.maxTransferLength >>> 0, 4);
  body.writeUInt32BE(l.optimalTransferLength >>> 0, 8);
  if (l.thinProvisioning) {
    body.writeUInt32BE(l.maxUnmapLbaCount >>> 0, 16);
    body.writeUInt32BE(l.maxUnmapDescriptors >>> 0, 20);
    body.writeUInt32BE(l.unmapGranularity >>> 0, 24);
    if (l.unmapGranularityAlignment) body.writeUInt32BE((0x80000000 | l.unmapGranularityAlignment) >>> 0, 28);
  }
  body.writeBigUInt64BE(BigInt(l.maxWriteSameLength), 32);
  return vpdPage(0xb0, body);
}

/** Block Device Characteristics (SBC-3 §6.5.2): rotation rate 1 = non-rotating medium. */
export function vpdBlockDeviceCharacteristics(nonRotating: boolean): Buffer {
  const body = Buffer.alloc(0x3c);
  body.writeUInt16BE(nonRotating ? 1 : 0, 0);
  return vpdPage(0xb1, body);
}

/** Logical Block Provisioning (SBC-3 §6.5.4). */
export function vpdLogicalBlockProvisioning(p: { lbpu: boolean; lbpws: boolean; lbprz: boolean }): Buffer {
  const body = Buffer.alloc(4);
  body[1] = (p.lbpu ? 0x80 : 0) | (p.lbpws ? 0x60 : 0) | (p.lbprz ? 0x04 : 0);
  // PROVISIONING TYPE 010b (thin) when any unmap command is enabled.
  body[2] = p.lbpu || p.lbpws ? 0x02 : 0x00;
  return vpdPage(0xb2, body);
}
