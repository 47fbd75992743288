/**
 * PERSISTENT RESERVE OUT/IN (SPC-4 §6.15, §6.16) through the project's iSCSI client: the cluster
 * and APTPL integration tests register, reserve and read keys with these.
 */
import { expect } from "vitest";
import type { IscsiClient } from "./iscsi-client";

/** PERSISTENT RESERVE OUT's CDB (scope 0: LU) and its 24-byte basic parameter list; APTPL sets byte 20 bit 0. */
export function prOutCommand(sa: number, type: number, key: bigint, saKey: bigint, aptpl = false): [Buffer, Buffer] {
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(key, 0);
  p.writeBigUInt64BE(saKey, 8);
  p[20] = aptpl ? 0x01 : 0;
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x5f;
  cdb[1] = sa;
  cdb[2] = type & 0x0f;
  cdb.writeUInt32BE(p.length, 5);
  return [cdb, p];
}

/** PERSISTENT RESERVE IN's CDB for up to 1024 bytes. */
export function prInCdb(sa: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x5e;
  cdb[1] = sa;
  cdb.writeUInt16BE(1024, 7);
  return cdb;
}

/** PR OUT on `lun` of the session: the command's status. */
export async function prOut(c: IscsiClient, sa: number, type: number, key: bigint, saKey: bigint, lun = 0): Promise<number> {
  const [cdb, data] = prOutCommand(sa, type, key, saKey);
  return (await c.command(cdb, { lun, write: data })).status;
}

/** PR IN on `lun` of the session (GOOD expected): the data. */
export async function prIn(c: IscsiClient, sa: number, lun = 0): Promise<Buffer> {
  const r = await c.command(prInCdb(sa), { lun, readLength: 1024 });
  expect(r.status).toBe(0);
  return r.data;
}

/** READ KEYS: the PR generation and the registered keys. */
export async function readKeys(c: IscsiClient, lun = 0): Promise<{ generation: number; keys: bigint[] }> {
  const d = await prIn(c, 0x00, lun);
  return { generation: d.readUInt32BE(0), keys: Array.from({ length: d.readUInt32BE(4) / 8 }, (_, i) => d.readBigUInt64BE(8 + 8 * i)) };
}

/** READ RESERVATION: the holder's key and the type, or undefined when none. */
export async function readReservation(c: IscsiClient, lun = 0): Promise<{ key: bigint; type: number } | undefined> {
  const d = await prIn(c, 0x01, lun);
  return d.readUInt32BE(4) === 0 ? undefined : { key: d.readBigUInt64BE(8), type: d[21]! & 0x0f };
}
