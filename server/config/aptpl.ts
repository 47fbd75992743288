/**
 * APTPL persistence (SPC-4 §5.12.5, "Activate Persist Through Power Loss"): a persistent
 * reservation registered with APTPL=1 survives a restart of the appliance. LIO writes it
 * to `<dbroot>/pr/aptpl_<serial>`; Portico keeps it in the configuration database's
 * settings table under `aptpl:<wwn>` (the unit serial), JSON of scsi/pr.ts PrSavedState.
 *
 * The SCSI layer calls ScsiDisk.onAptplChange after every PR OUT that changes state while
 * APTPL is (or was just) active; the state is written synchronously (better-sqlite3) before
 * the command's GOOD status goes out, so an acknowledged PR OUT is durable. Clearing APTPL
 * (or a PR OUT that leaves no APTPL state) deletes the row.
 */
import { eq } from "drizzle-orm";
import type { PorticoDb } from "../db";
import { settings } from "../db/schema";
import type { Engine } from "../engine/core/engine";
import type { StorageObject } from "../engine/core/model";
import type { PrSavedState } from "../engine/scsi/pr";
import { getSetting, setSetting } from "./store";

/** What a device offers for APTPL (scsi/ScsiDisk). */
interface AptplDevice {
  onAptplChange?: (state: PrSavedState | undefined) => void;
  loadPersistentReservations(state: PrSavedState): void;
}

export const aptplKey = (wwn: string) => `aptpl:${wwn}`;

function isAptplDevice(d: unknown): d is AptplDevice {
  return typeof (d as AptplDevice | undefined)?.loadPersistentReservations === "function";
}

/** Loads the saved state of one storage object into its device and saves every later change. */
export function attachAptpl(so: StorageObject, db: PorticoDb): void {
  const device = so.device as unknown;
  if (!isAptplDevice(device)) return; // e.g. the offline device while the fabric cannot load
  try {
    const saved = getSetting<PrSavedState>(db, aptplKey(so.wwn));
    if (saved) device.loadPersistentReservations(saved);
  } catch (err) {
    process.stderr.write(`portico: APTPL state of ${so.plugin}/${so.name} not restored: ${(err as Error).message}\n`);
  }
  device.onAptplChange = (state) => {
    try {
      if (state) setSetting(db, aptplKey(so.wwn), state);
      else db.delete(settings).where(eq(settings.key, aptplKey(so.wwn))).run();
    } catch (err) {
      process.stderr.write(`portico: APTPL state of ${so.plugin}/${so.name} not saved: ${(err as Error).message}\n`);
    }
  };
}

/**
 * Attaches APTPL persistence to every storage object of the engine, now and as they are
 * created (Engine.onStorageObjectCreated). Call it before the configuration is restored
 * so each LU has its reservations before its portals open.
 */
export function attachAptplPersistence(engine: Engine, db: PorticoDb): void {
  for (const so of engine.storageObjects.values()) attachAptpl(so, db);
  engine.onStorageObjectCreated = (so) => attachAptpl(so, db);
}
