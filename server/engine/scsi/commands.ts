/**
 * The one command table of a disk LU, built from the entries each command file
 * exports (see command.ts for the import order). Opcodes with service actions
 * (SERVICE ACTION IN(16), MAINTENANCE IN/OUT, EXTENDED COPY, RECEIVE COPY RESULTS)
 * select their command by CDB byte 1 bits 4-0, falling back to the opcode's own
 * entry (which refuses the unknown service action).
 */
import type { CommandDef, CommandEntry, CommandTable } from "./command";
import { aluaCommands } from "./commands-alua";
import { prCommands } from "./commands-pr";
import { sbcCommands } from "./commands-sbc";
import { spcSbcCommands } from "./commands-spc";
import type { ScsiDisk } from "./disk";
import { copyCommands } from "./xcopy";

export function buildCommandTable(entries: readonly CommandEntry[]): CommandTable {
  const byOpcode = new Map<number, CommandDef>();
  /** (opcode << 16 | service action) -> definition. */
  const bySa = new Map<number, CommandDef>();
  const saOpcodes = new Set<number>();
  const gates = new Map<number, (d: ScsiDisk) => boolean>();
  for (const e of entries) {
    const key = e.serviceAction === undefined ? e.opcode : (e.opcode << 16) | e.serviceAction;
    const into = e.serviceAction === undefined ? byOpcode : bySa;
    if (into.has(key)) throw new Error(`SCSI command 0x${key.toString(16)} is defined twice`);
    into.set(key, e.def);
    if (e.serviceAction !== undefined) saOpcodes.add(e.opcode);
    if (e.gate) gates.set(key, e.gate);
  }
  const all: { opcode: number; sa?: number }[] = [];
  for (const op of byOpcode.keys()) if (!saOpcodes.has(op)) all.push({ opcode: op });
  for (const k of bySa.keys()) all.push({ opcode: k >>> 16, sa: k & 0xffff });
  all.sort((a, b) => a.opcode - b.opcode || (a.sa ?? 0) - (b.sa ?? 0));
  return {
    commandFor(cdb: Buffer, disk?: ScsiDisk): CommandDef | undefined {
      const op = cdb[0];
      let key = op;
      let def = byOpcode.get(op);
      if (saOpcodes.has(op)) {
        const k = (op << 16) | (cdb[1] & 0x1f);
        const sa = bySa.get(k);
        if (sa) {
          key = k;
          def = sa;
        }
      }
      const gate = gates.get(key);
      if (disk && gate && !gate(disk)) return undefined;
      return def;
    },
    hasServiceActions: (opcode) => saOpcodes.has(opcode),
    hasServiceAction: (opcode, sa) => bySa.has((opcode << 16) | sa),
    all: () => all,
  };
}

export const commandTable: CommandTable = buildCommandTable([...spcSbcCommands, ...prCommands, ...sbcCommands, ...aluaCommands, ...copyCommands]);
