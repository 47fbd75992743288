"use client";
/**
 * Small building blocks of the monitoring pages (cards, badges, states, a confirm
 * dialog), in the console's visual language but self-contained so the monitoring
 * components depend on nothing outside components/monitor.
 */
import { useEffect, useId, useRef, type ReactNode } from "react";

export const cx = (...c: (string | false | null | undefined)[]) => c.filter(Boolean).join(" ");

export function Panel({ title, children, actions, testId, className }: { title?: ReactNode; children: ReactNode; actions?: ReactNode; testId?: string; className?: string }) {
  const hid = useId();
  return (
    <section
      aria-labelledby={title ? hid : undefined}
      data-testid={testId}
      className={cx("rounded-lg border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900", className)}
    >
      {(title || actions) && (
        <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
          {title && (
            <h2 id={hid} className="text-base font-semibold">
              {title}
            </h2>
          )}
          {actions}
        </div>
      )}
      {children}
    </section>
  );
}

export function Stat({ label, value, hint, testId, tone }: { label: string; value: ReactNode; hint?: ReactNode; testId?: string; tone?: "bad" | "ok" }) {
  return (
    <div data-testid={testId} className="rounded-lg border border-slate-200 bg-white p-3 shadow-sm dark:border-slate-800 dark:bg-slate-900">
      <div className="text-xs font-medium tracking-wide text-slate-600 uppercase dark:text-slate-400">{label}</div>
      <div className={cx("mt-1 text-2xl font-semibold tabular-nums", tone === "bad" && "text-red-700 dark:text-red-400")} data-testid={testId ? `${testId}-value` : undefined}>
        {value}
      </div>
      {hint && <div className="mt-0.5 text-xs text-slate-600 dark:text-slate-400">{hint}</div>}
    </div>
  );
}

export function Pill({ tone = "off", children, testId }: { tone?: "ok" | "warn" | "bad" | "off" | "info"; children: ReactNode; testId?: string }) {
  const tones = {
    ok: "bg-emerald-100 text-emerald-800 dark:bg-emerald-900/40 dark:text-emerald-300",
    warn: "bg-amber-100 text-amber-900 dark:bg-amber-900/40 dark:text-amber-300",
    bad: "bg-red-100 text-red-800 dark:bg-red-900/40 dark:text-red-300",
    off: "bg-slate-200 text-slate-700 dark:bg-slate-800 dark:text-slate-300",
    info: "bg-sky-100 text-sky-800 dark:bg-sky-900/40 dark:text-sky-300",
  };
  return (
    <span data-testid={testId} className={cx("inline-flex items-center rounded px-1.5 py-0.5 text-xs font-medium whitespace-nowrap", tones[tone])}>
      {children}
    </span>
  );
}

export function Loading({ label = "Loading…", testId = "loading-state" }: { label?: string; testId?: string }) {
  return (
    <div data-testid={testId} role="status" className="flex items-center justify-center gap-2 p-8 text-sm text-slate-600 dark:text-slate-400">
      <span aria-hidden className="h-4 w-4 animate-spin rounded-full border-2 border-current border-t-transparent" />
      {label}
    </div>
  );
}

export function Failure({ message, retry, testId = "error-state" }: { message: string; retry?: () => void; testId?: string }) {
  return (
    <div data-testid={testId} role="alert" className="rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
      <p className="font-semibold">Could not load this</p>
      <p className="mt-1">{message}</p>
      {retry && (
        <button type="button" onClick={retry} className="mt-2 rounded-md border border-red-300 bg-white px-3 py-1 text-sm text-red-900 hover:bg-red-100 dark:bg-red-900 dark:text-red-100">
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children, testId = "empty-state" }: { title: string; children?: ReactNode; testId?: string }) {
  return (
    <div data-testid={testId} className="rounded-lg border border-dashed border-slate-300 p-8 text-center dark:border-slate-700">
      <p className="font-medium">{title}</p>
      {children && <div className="mx-auto mt-1 max-w-prose text-sm text-slate-600 dark:text-slate-400">{children}</div>}
    </div>
  );
}

export const btn =
  "inline-flex items-center justify-center gap-2 rounded-md px-3 py-1.5 text-sm font-medium focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 disabled:cursor-not-allowed disabled:opacity-60";
export const btnSecondary = cx(btn, "border border-slate-300 bg-white text-slate-800 hover:bg-slate-50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800");
export const btnDanger = cx(btn, "bg-red-700 text-white hover:bg-red-800");

/** A modal confirmation (native <dialog>: focus trap and Escape for free). */
export function Confirm({
  open, title, children, confirmLabel, busy, error, onConfirm, onClose,
}: { open: boolean; title: string; children: ReactNode; confirmLabel: string; busy?: boolean; error?: string | null; onConfirm: () => void; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const hid = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={hid}
      data-testid="confirm-dialog"
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      className="m-auto w-[calc(100%-2rem)] max-w-lg rounded-lg border border-slate-200 bg-white p-0 text-slate-900 shadow-xl backdrop:bg-slate-900/50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100"
    >
      {open && (
        <div>
          <h2 id={hid} className="border-b border-slate-200 px-4 py-3 text-lg font-semibold dark:border-slate-800">
            {title}
          </h2>
          <div className="space-y-3 px-4 py-4 text-sm">
            {children}
            {error && (
              <p role="alert" data-testid="confirm-error" className="rounded border border-red-300 bg-red-50 px-2 py-1 text-red-900">
                {error}
              </p>
            )}
          </div>
          <div className="flex justify-end gap-2 border-t border-slate-200 px-4 py-3 dark:border-slate-800">
            <button type="button" className={btnSecondary} onClick={onClose}>
              Cancel
            </button>
            <button type="button" className={btnDanger} disabled={busy} aria-busy={busy || undefined} onClick={onConfirm} data-testid="confirm-button">
              {busy ? "Working…" : confirmLabel}
            </button>
          </div>
        </div>
      )}
    </dialog>
  );
}

export const th = "border-b border-slate-200 px-2 py-2 text-xs font-semibold tracking-wide text-slate-600 uppercase dark:border-slate-800 dark:text-slate-400";
export const td = "border-b border-slate-100 px-2 py-2 align-top dark:border-slate-800";
