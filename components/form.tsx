"use client";
/**
 * Forms validate with the same zod schema the API uses (server/api/schemas,
 * server/console/schemas, server/auth/schemas). Server refusals carry the field in
 * `error.data.field`; `serverErrors` puts the message next to that field.
 */
import { useCallback, useState } from "react";
import type { z } from "zod";
import { Select, TextInput } from "./ui";

export type Errors = Record<string, string>;

export function zodErrors(error: z.ZodError, prefix = ""): Errors {
  const out: Errors = {};
  for (const issue of error.issues) {
    const key = prefix + issue.path.map(String).join(".");
    if (!(key in out)) out[key] = issue.message;
  }
  return out;
}

interface ServerErrorShape {
  message?: string;
  data?: { field?: string; engineCode?: string; zodError?: { fieldErrors?: Record<string, string[]> } | null } | null;
}

/** The engine's reason for a refusal (e.g. "overcommit": the form then offers the confirmation). */
export function engineCodeOf(err: unknown): string | undefined {
  return (err as ServerErrorShape | undefined)?.data?.engineCode ?? undefined;
}

/** Field errors from a tRPC error; `form` holds what concerns no field. */
export function serverErrors(err: unknown, fieldPrefix = ""): Errors {
  const e = (err ?? {}) as ServerErrorShape;
  const out: Errors = {};
  const fe = e.data?.zodError?.fieldErrors;
  if (fe && Object.keys(fe).length) {
    for (const [k, v] of Object.entries(fe)) out[fieldPrefix + k] = v[0];
    return out;
  }
  const field = e.data?.field;
  if (field && field !== "form") out[fieldPrefix + field] = e.message ?? "refused";
  else out.form = e.message ? errorMessage(err) : "something went wrong";
  return out;
}

/** The browser's words for "no answer" ("Failed to fetch"…) become what happened. */
const UNREACHABLE = "The appliance did not answer (stopped, restarting or unreachable). Try again once it is back.";

export function errorMessage(err: unknown): string {
  const e = err as { message?: string; data?: unknown } | null;
  const message = e?.message ?? String(err);
  if (!e?.data && /failed to fetch|fetch failed|networkerror|load failed/i.test(message)) return UNREACHABLE;
  return message;
}

/** Keeps form values and errors; `check` validates with the schema and returns the parsed value or undefined. */
export function useForm<T extends Record<string, unknown>>(initial: T) {
  const [values, setValues] = useState<T>(initial);
  const [errors, setErrors] = useState<Errors>({});
  const set = useCallback(<K extends keyof T>(key: K, value: T[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
    setErrors((e) => {
      if (!(key as string in e) && !e.form) return e;
      const { [key as string]: _gone, form: _f, ...rest } = e;
      return rest;
    });
  }, []);
  function check<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> | undefined {
    const r = schema.safeParse(input);
    if (r.success) {
      setErrors({});
      return r.data;
    }
    setErrors(zodErrors(r.error));
    return undefined;
  }
  return { values, setValues, set, errors, setErrors, check };
}

const UNITS = [
  { id: "MiB", bytes: 1024 ** 2 },
  { id: "GiB", bytes: 1024 ** 3 },
  { id: "TiB", bytes: 1024 ** 4 },
] as const;
export type SizeValue = { amount: string; unit: (typeof UNITS)[number]["id"] };

export function sizeToBytes(v: SizeValue): number | undefined {
  if (v.amount.trim() === "") return undefined;
  const n = Number(v.amount);
  if (!Number.isFinite(n)) return Number.NaN;
  const unit = UNITS.find((u) => u.id === v.unit)!;
  return Math.round(n * unit.bytes);
}

/** A size as amount + unit; the amount input carries the field's id so its label and error attach to it. */
export function SizeInput({ value, onChange, id, invalid, describedBy }: { value: SizeValue; onChange: (v: SizeValue) => void; id: string; invalid?: boolean; describedBy?: string }) {
  return (
    <div className="flex gap-2">
      <TextInput id={id} inputMode="decimal" aria-invalid={invalid} aria-describedby={describedBy} value={value.amount} onChange={(e) => onChange({ ...value, amount: e.target.value })} className="w-full min-w-0 flex-1" />
      <Select aria-label="unit" value={value.unit} onChange={(e) => onChange({ ...value, unit: e.target.value as SizeValue["unit"] })} className="w-28 shrink-0">
        {UNITS.map((u) => (
          <option key={u.id} value={u.id}>
            {u.id}
          </option>
        ))}
      </Select>
    </div>
  );
}

/** A block device as the host.blockDevices query lists it. */
interface BlockDeviceChoice {
  path: string;
  size: number;
  type: string;
  model: string | null;
  mounts: string[];
  inUse: boolean;
}

/**
 * The choices of a block device field: each device with its size, type and model; a mounted or
 * already exported one is shown but cannot be chosen, and says why.
 */
export function BlockDeviceOptions({ devices }: { devices: BlockDeviceChoice[] }) {
  return (
    <>
      <option value="">Choose a device…</option>
      {devices.map((b) => (
        <option key={b.path} value={b.path} disabled={b.mounts.length > 0 || b.inUse}>
          {b.path} — {formatBytes(b.size)} {b.type}
          {b.model ? ` (${b.model})` : ""}
          {b.mounts.length ? ` — mounted at ${b.mounts.join(", ")}` : b.inUse ? " — already exported" : ""}
        </option>
      ))}
    </>
  );
}

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** "1 LUN", "2 LUNs", "1 error": a count with its noun, singular or plural. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${seconds % 60}s`;
  return `${seconds}s`;
}

/** A new target IQN under the appliance's prefix (browser crypto). */
export function newTargetName(prefix: string): string {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return `${prefix}:sn.${[...b].map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}
