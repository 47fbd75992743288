/**
 * The commands only `/` has (targetcli ui_root.py): saveconfig, restoreconfig,
 * clearconfig, sessions, version.
 */
import fs from "node:fs";
import path from "node:path";
import { writeFileAtomic, version } from "../runtime";
import { parseBool, ShellError } from "./grammar";
import type { CommandDef, ShellContext } from "./types";

function defaultSaveFile(ctx: ShellContext): string {
  const dir = ctx.service.dataDir;
  if (!dir) throw new ShellError("This configuration has no data directory: give a savefile.");
  return path.join(dir, "saveconfig.json");
}

/** `sessions [list|detail] [sid]`: live sessions from the engine, demo-mode initiators included. */
function sessions(ctx: ShellContext, action: string, sid: string | undefined): void {
  if (action !== "list" && action !== "detail") throw new ShellError(`Invalid action '${action}': use list or detail.`);
  const all = ctx.engine.sessions().filter((s) => s.sessionType === "Normal" && (sid === undefined || String(s.tsih) === sid));
  ctx.setJson(all.map((s) => ({ ...s, mappedLuns: mappedLuns(ctx, s) })));
  if (all.length === 0) {
    ctx.print("(no open sessions)");
    return;
  }
  for (const s of all) {
    ctx.print(`alias: ${s.initiatorAlias ?? ""}\tsid: ${s.tsih} type: ${s.sessionType} session-state: LOGGED_IN`);
    if (action !== "detail") continue;
    ctx.print(`    name: ${s.initiatorName} (${s.authenticated ? "authenticated" : "NOT AUTHENTICATED"})`);
    for (const m of mappedLuns(ctx, s)) ctx.print(`    mapped-lun: ${m.lun} backstore: ${m.backstore} mode: ${m.mode}`);
    for (const c of s.connections) ctx.print(`    address: ${c.remoteAddress} (TCP)  cid: ${c.cid} connection-state: LOGGED_IN`);
  }
}

function mappedLuns(ctx: ShellContext, s: { initiatorName: string; targetName?: string; tpgTag?: number }): { lun: number; backstore: string; mode: string }[] {
  const tpg = s.targetName !== undefined && s.tpgTag !== undefined ? ctx.engine.targets.get(s.targetName)?.tpgs.get(s.tpgTag) : undefined;
  if (!tpg) return [];
  return tpg.bindingsFor(s.initiatorName).map((b) => {
    const so = tpg.luns.get(b.tpgLunIndex)?.storageObject;
    return { lun: b.lun, backstore: so ? `${so.plugin}/${so.name}` : "?", mode: b.writeProtect ? "ro" : "rw" };
  });
}

export function rootCommands(): Record<string, CommandDef> {
  return {
    saveconfig: {
      params: [{ name: "savefile", default: "None" }],
      help: "Saves the current configuration (saveconfig.json) to savefile, <data dir>/saveconfig.json by default. Portico also stores every change as it is made.",
      run(ctx, args) {
        const file = args.savefile ? path.resolve(ctx.workdir, args.savefile) : defaultSaveFile(ctx);
        writeFileAtomic(file, ctx.service.exportSaveconfig({ secrets: true }));
        ctx.print(`Configuration saved to ${file}`);
        ctx.setJson({ saved: file });
      },
    },
    restoreconfig: {
      params: [{ name: "savefile", default: "None" }, { name: "clear_existing", default: "false" }],
      help: "Restores the configuration from savefile (<data dir>/saveconfig.json by default), all or nothing. Objects that already exist are refused unless clear_existing=true.",
      complete: (_c, param) => (param === "clear_existing" ? ["true", "false"] : []),
      async run(ctx, args) {
        const file = args.savefile ? path.resolve(ctx.workdir, args.savefile) : defaultSaveFile(ctx);
        let text: string;
        try {
          text = fs.readFileSync(file, "utf8");
        } catch {
          throw new ShellError(`Restore file ${file} not found`);
        }
        const r = await ctx.service.importSaveconfig(text, { clear: parseBool(args.clear_existing ?? "false", "clear_existing") });
        for (const w of [...r.warnings, ...r.notHonoured]) ctx.print(w);
        ctx.print(`Configuration restored from ${file}`);
        ctx.setJson({ restored: file, ...r });
      },
    },
    clearconfig: {
      params: [{ name: "confirm", default: "None" }],
      help: "Removes every storage object and target. Needs confirm=true.",
      complete: (_c, param) => (param === "confirm" ? ["true", "false"] : []),
      async run(ctx, args) {
        if (!parseBool(args.confirm ?? "false", "confirm")) throw new ShellError("As a precaution, confirm=True needs to be set");
        await ctx.service.importSaveconfig({ fabric_modules: [], storage_objects: [], targets: [] }, { clear: true });
        ctx.print("All configuration cleared");
        ctx.setJson({ cleared: true });
      },
    },
    sessions: {
      params: [{ name: "action", default: "list" }, { name: "sid", default: "None" }],
      help: "Displays the live iSCSI sessions (demo-mode initiators included): list, or detail with each session's mapped LUNs and connections.",
      complete: (_c, param) => (param === "action" ? ["list", "detail"] : []),
      run(ctx, args) {
        sessions(ctx, args.action!, args.sid);
      },
    },
    version: {
      params: [],
      help: "Displays the version of Portico's shell.",
      run(ctx) {
        ctx.print(`portico shell version ${version()}`);
        ctx.setJson({ version: version() });
      },
    },
  };
}
