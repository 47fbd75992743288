/**
 * Loader for the optional N-API addon in native/ (punch-hole, SEEK_DATA/SEEK_HOLE).
 * When it is not built, `nativeAddon` is undefined and backstores fall back to
 * writing zeros for UNMAP and report every block as mapped.
 */
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface NativeAddon {
  punchHole(fd: number, offset: number, length: number): Promise<void>;
  /** lseek(SEEK_DATA): next data offset ≥ offset, or -1 past the last data. */
  seekData(fd: number, offset: number): number;
  /** lseek(SEEK_HOLE): next hole offset ≥ offset (EOF counts as a hole), or -1. */
  seekHole(fd: number, offset: number): number;
}

function candidates(): string[] {
  const out: string[] = [];
  if (process.env.PORTICO_NATIVE) out.push(process.env.PORTICO_NATIVE);
  try {
    const here = path.dirname(fileURLToPath(import.meta.url));
    out.push(path.resolve(here, "../../../native/build/Release/portico_native.node"));
  } catch {
    // not an ES module URL (bundled): rely on cwd below
  }
  out.push(path.resolve(process.cwd(), "native/build/Release/portico_native.node"));
  return out;
}

function load(): { addon?: NativeAddon; reason: string } {
  const req = createRequire(import.meta.url);
  for (const file of candidates()) {
    if (!fs.existsSync(file)) continue;
    try {
      return { addon: req(file) as NativeAddon, reason: `loaded ${file}` };
    } catch (err) {
      return { reason: `cannot load ${file}: ${(err as Error).message}` };
    }
  }
  return { reason: "native/build/Release/portico_native.node is not built (run native/build.sh)" };
}

const loaded = load();
export const nativeAddon: NativeAddon | undefined = loaded.addon;
/** Why the addon is (not) available, for logs and status. */
export const nativeAddonStatus: string = loaded.reason;
