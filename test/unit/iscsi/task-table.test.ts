import { describe, expect, it } from "vitest";
import { Session, Task, TaskTable } from "../../../server/engine/iscsi/session";
import type { ConnectionPort } from "../../../server/engine/iscsi/handlers/port";

function task(itt: number): Task {
  return new Task(undefined as unknown as Session, undefined as unknown as ConnectionPort, {
    cdb: Buffer.alloc(16), lun: 0, edtl: 0, read: false, write: false, attr: 0, itt, cmdSN: itt, immediate: false,
  }, 0);
}

describe("TaskTable (session.ts)", () => {
  it("behaves as a Map of ITT to task under random adds and deletes, arrival order kept", () => {
    const table = new TaskTable();
    const model = new Map<number, Task>();
    let seed = 7;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let step = 0; step < 20_000; step++) {
      // ITTs from a small range (collisions in the buckets) and from all 32 bits.
      const itt = rnd(2) ? rnd(300) : (rnd(0x7fffffff) * 2 + rnd(2)) >>> 0;
      if (rnd(3) === 0 || model.size > 250) {
        const victim = rnd(2) && model.size ? [...model.keys()][rnd(model.size)] : itt;
        expect(table.delete(victim)).toBe(model.delete(victim));
      } else if (!model.has(itt)) {
        const t = task(itt);
        table.set(itt, t);
        model.set(itt, t);
      }
      expect(table.size).toBe(model.size);
      expect(table.get(itt)).toBe(model.get(itt));
      expect(table.has(itt)).toBe(model.has(itt));
    }
    expect(table.values()).toEqual([...model.values()]);
    for (const itt of [...model.keys()]) expect(table.delete(itt)).toBe(true);
    expect(table.size).toBe(0);
    expect(table.values()).toEqual([]);
  });

  it("replaces a task set again under its ITT, and refuses a key that is not the task's ITT", () => {
    const table = new TaskTable();
    const a = task(5);
    const b = task(5);
    table.set(5, a);
    table.set(5, b);
    expect(table.size).toBe(1);
    expect(table.get(5)).toBe(b);
    expect(() => table.set(6, task(7))).toThrow(/not the task's ITT/);
  });

  it("values() is a snapshot: deleting while walking it visits every task once", () => {
    const table = new TaskTable();
    for (let i = 0; i < 10; i++) table.set(i, task(i));
    const seen: number[] = [];
    for (const t of table.values()) {
      seen.push(t.taskTag);
      table.delete(t.taskTag);
      table.delete(t.taskTag + 1);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(table.size).toBe(0);
  });
});
