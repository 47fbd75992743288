/**
 * The one-time setup code that guards onboarding from the network (like Jenkins'
 * initial admin password). The console listens on every address by default, so until
 * an admin exists anyone on the LAN could claim the appliance: while no admin exists,
 * start-up makes a random code, prints it in the start-up line and writes it to
 * `<data dir>/setup-code` (0600). Every onboarding request from the console must present the
 * code in the `x-portico-setup-code` header, from loopback too: any local user can reach
 * 127.0.0.1, but only root (and the appliance) can read the file. The `portico` CLI (root,
 * runtime-file token) needs no code. Completing onboarding deletes it.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const SETUP_CODE_FILE = "setup-code";
export const SETUP_CODE_HEADER = "x-portico-setup-code";

/** Without 0/O/1/I/L so it reads back unambiguously from a console or a screenshot. */
const ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/** 16 characters from a 31-letter alphabet (~79 bits), grouped XXXX-XXXX-XXXX-XXXX. */
export function newSetupCode(): string {
  const bytes = randomBytes(32);
  let out = "";
  for (let i = 0; out.length < 16; i++) {
    const b = bytes[i % bytes.length]!;
    if (b >= 248) continue; // 248 = 8 × 31: keep the choice uniform
    out += ALPHABET[b % 31];
  }
  return out.match(/.{4}/g)!.join("-");
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms: the request comes from this machine. */
export function isLoopback(ip: string | undefined): boolean {
  if (!ip) return false;
  const v4 = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) || ip === "::1";
}

/** Codes compare without case, spaces or dashes (people retype them). */
function normalize(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, "");
}

/**
 * Why an onboarding request must be refused, or undefined when it may go on:
 * no code is in force (an admin exists, or an in-process caller), or the request presents
 * the right code. Loopback is no exception (a local unprivileged user is not the admin);
 * `ip` only words the message.
 */
export function setupCodeRefusal(opts: { code: string | undefined; ip: string | undefined; presented: string | undefined }): string | undefined {
  if (!opts.code) return undefined;
  if (!opts.presented)
    return isLoopback(opts.ip)
      ? "enter the setup code: it is in the setup-code file in the data directory (readable by root)"
      : "enter the setup code: see the start-up log or the setup-code file in the data directory";
  const a = Buffer.from(normalize(opts.presented));
  const b = Buffer.from(normalize(opts.code));
  if (a.length !== b.length || !timingSafeEqual(a, b)) return "that is not the setup code: see the start-up log or the setup-code file in the data directory";
  return undefined;
}

/** The code of this run, its file, and dropping both once onboarding is done. */
export class SetupCode {
  private constructor(
    readonly file: string,
    private current: string | undefined,
  ) {}

  /** A fresh code (and file) when no admin exists; otherwise none, and a stale file is removed. */
  static start(dataDir: string, hasAdmin: boolean): SetupCode {
    const file = path.join(dataDir, SETUP_CODE_FILE);
    if (hasAdmin) {
      fs.rmSync(file, { force: true });
      return new SetupCode(file, undefined);
    }
    const code = newSetupCode();
    fs.rmSync(file, { force: true }); // a new file, so the mode below holds even if an old one was wider
    fs.writeFileSync(file, `${code}\n`, { mode: 0o600, flag: "wx" });
    return new SetupCode(file, code);
  }

  get code(): string | undefined {
    return this.current;
  }

  refusal(ip: string | undefined, presented: string | undefined): string | undefined {
    return setupCodeRefusal({ code: this.current, ip, presented });
  }

  /** Onboarding is complete: the code stops working and its file goes. */
  drop(): void {
    this.current = undefined;
    fs.rmSync(this.file, { force: true });
  }
}
