/**
 * A shell session for the shell tests, on a fixture's real ConfigService and engine: each line
 * runs in the directory the previous one left (cd, auto_cd_after_create), 132 columns wide.
 */
import { runLine, type ShellResult } from "@/server/shell/run";
import type { Fixture } from "../config/helpers";

export function shellSession(fx: Fixture): (line: string) => Promise<ShellResult> {
  let cwd = "/";
  return async (line) => {
    const r = await runLine({ service: fx.service, engine: fx.engine, online: false }, { line, cwd, width: 132 });
    cwd = r.cwd;
    return r;
  };
}
