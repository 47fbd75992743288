/**
 * Numbers and on/off switches from PORTICO_* environment variables, read where a module loads or an
 * object is made. One rule for all of them: unset or empty gives the default; a value that is not a
 * number (not whole where it must be, out of range) or not an on/off word gives the default too,
 * with a warning on stderr that names the variable, the value and what was used instead (once per
 * variable and value: some are read per connection). Never a silent NaN, never a crash of the
 * appliance over a tuning knob.
 */

/** The environment to read (process.env unless a test passes its own). */
export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvNumberOptions<D extends number | undefined> {
  /** The value when the variable is unset or empty, or not usable. */
  default: D;
  /** Smallest value taken (inclusive). */
  min?: number;
  /** Largest value taken (inclusive). */
  max?: number;
  /** Only whole numbers. */
  integer?: boolean;
  /** Words that stand for a number, lower case (e.g. `{ off: 0 }`). */
  words?: Readonly<Record<string, number>>;
  env?: Env;
  warn?: (message: string) => void;
}

const warned = new Set<string>();

function warnOnce(warn: ((message: string) => void) | undefined, key: string, message: string): void {
  if (warn) return warn(message);
  if (warned.has(key)) return;
  warned.add(key);
  process.stderr.write(`portico: WARNING: ${message}\n`);
}

/** Why `n` is not taken, or undefined when it is. */
function refusal(n: number, o: EnvNumberOptions<number | undefined>): string | undefined {
  if (!Number.isFinite(n)) return "is not a number";
  if (o.integer && !Number.isInteger(n)) return "is not a whole number";
  if (o.min !== undefined && n < o.min) return `is below ${o.min}`;
  if (o.max !== undefined && n > o.max) return `is above ${o.max}`;
  return undefined;
}

/** The number in environment variable `name` (see the module comment for the rules). */
export function envNumber<D extends number | undefined>(name: string, o: EnvNumberOptions<D>): number | D {
  const raw = (o.env ?? process.env)[name];
  const v = raw?.trim().toLowerCase();
  if (v === undefined || v === "") return o.default;
  if (o.words && Object.hasOwn(o.words, v)) return o.words[v];
  const n = Number(v);
  const why = refusal(n, o);
  if (why === undefined) return n;
  const words = o.words ? ` or ${Object.keys(o.words).join(", ")}` : "";
  warnOnce(o.warn, `${name}=${raw}`, `${name}=${JSON.stringify(raw)} ${why}${words}: using ${o.default === undefined ? "the default" : o.default}`);
  return o.default;
}

export interface EnvSwitchOptions {
  /** The value when the variable is unset or empty, or not an on/off word. */
  default: boolean;
  env?: Env;
  warn?: (message: string) => void;
}

/** The words of a switch, any case (the shell's booleans take the same ones). */
const SWITCH_WORDS: Readonly<Record<string, boolean>> = { 0: false, off: false, false: false, no: false, 1: true, on: true, true: true, yes: true };

/**
 * The on/off switch in environment variable `name`: `0`, `off`, `false`, `no` turn it off, `1`, `on`,
 * `true`, `yes` on (any case, spaces around ignored); anything else is the default and a warning.
 */
export function envSwitch(name: string, o: EnvSwitchOptions): boolean {
  const raw = (o.env ?? process.env)[name];
  const v = raw?.trim().toLowerCase();
  if (v === undefined || v === "") return o.default;
  if (Object.hasOwn(SWITCH_WORDS, v)) return SWITCH_WORDS[v];
  warnOnce(o.warn, `${name}=${raw}`, `${name}=${JSON.stringify(raw)} is not one of 0, off, false, no, 1, on, true, yes: using ${o.default ? "on" : "off"}`);
  return o.default;
}
