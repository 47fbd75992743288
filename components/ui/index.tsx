"use client";
/**
 * The console's component kit: plain Tailwind, native elements with labels and
 * ARIA wiring (no component library). Every page uses these, so look and keyboard
 * behaviour are the same everywhere.
 */
import Link from "next/link";
import { useEffect, useId, useRef, type ButtonHTMLAttributes, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from "react";

const cx = (...c: (string | false | null | undefined)[]) => c.filter(Boolean).join(" ");

type Tone = "primary" | "secondary" | "danger" | "ghost";
const buttonTones: Record<Tone, string> = {
  primary: "bg-sky-700 text-white hover:bg-sky-800 disabled:bg-sky-700/50",
  secondary: "border border-slate-300 bg-white text-slate-800 hover:bg-slate-50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800",
  danger: "bg-red-700 text-white hover:bg-red-800 disabled:bg-red-700/50",
  ghost: "text-slate-700 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800",
};
const buttonBase =
  "inline-flex items-center justify-center gap-2 rounded-md px-3 py-2 text-sm font-medium focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 disabled:cursor-not-allowed";

export function Button({ tone = "secondary", busy, children, className, ...rest }: ButtonHTMLAttributes<HTMLButtonElement> & { tone?: Tone; busy?: boolean }) {
  return (
    <button type="button" {...rest} disabled={rest.disabled || busy} aria-busy={busy || undefined} className={cx(buttonBase, buttonTones[tone], className)}>
      {busy && <Spinner />}
      {children}
    </button>
  );
}

export function LinkButton({ href, tone = "secondary", children, className, ...rest }: { href: string; tone?: Tone; children: ReactNode; className?: string; "data-testid"?: string }) {
  return (
    <Link href={href} className={cx(buttonBase, buttonTones[tone], className)} {...rest}>
      {children}
    </Link>
  );
}

export function Spinner({ label }: { label?: string }) {
  return (
    <span role={label ? "status" : undefined} className="inline-flex items-center gap-2">
      <span aria-hidden className="h-4 w-4 animate-spin rounded-full border-2 border-current border-t-transparent" />
      {label && <span>{label}</span>}
    </span>
  );
}

export function Card({ title, children, actions, id, className }: { title?: ReactNode; children: ReactNode; actions?: ReactNode; id?: string; className?: string }) {
  const hid = useId();
  return (
    <section
      aria-labelledby={title ? hid : undefined}
      data-testid={id}
      className={cx("rounded-lg border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-800 dark:bg-slate-900", className)}
    >
      {(title || actions) && (
        <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
          {title && (
            <h2 id={hid} className="text-base font-semibold">
              {title}
            </h2>
          )}
          {actions && <div className="flex flex-wrap gap-2">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  );
}

export function PageHeader({ title, description, actions }: { title: ReactNode; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-6 flex flex-wrap items-start justify-between gap-3">
      <div className="min-w-0">
        <h1 className="truncate text-2xl font-semibold tracking-tight">{title}</h1>
        {description && <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">{description}</p>}
      </div>
      {actions && <div className="flex flex-wrap gap-2">{actions}</div>}
    </div>
  );
}

export function Badge({ tone = "off", children, testId }: { tone?: "ok" | "warn" | "bad" | "off" | "info"; children: ReactNode; testId?: string }) {
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

export function Alert({ tone = "info", title, children, testId }: { tone?: "info" | "warn" | "bad" | "ok"; title?: ReactNode; children?: ReactNode; testId?: string }) {
  const tones = {
    info: "border-sky-300 bg-sky-50 text-sky-900 dark:border-sky-800 dark:bg-sky-950 dark:text-sky-200",
    warn: "border-amber-300 bg-amber-50 text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200",
    bad: "border-red-300 bg-red-50 text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-200",
    ok: "border-emerald-300 bg-emerald-50 text-emerald-900 dark:border-emerald-800 dark:bg-emerald-950 dark:text-emerald-200",
  };
  return (
    <div role={tone === "bad" ? "alert" : "status"} data-testid={testId} className={cx("rounded-md border px-3 py-2 text-sm", tones[tone])}>
      {title && <p className="font-semibold">{title}</p>}
      {children && <div className={title ? "mt-1" : undefined}>{children}</div>}
    </div>
  );
}

export function EmptyState({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div data-testid="empty-state" className="rounded-lg border border-dashed border-slate-300 p-8 text-center dark:border-slate-700">
      <p className="font-medium">{title}</p>
      {children && <p className="mx-auto mt-1 max-w-prose text-sm text-slate-600 dark:text-slate-400">{children}</p>}
      {action && <div className="mt-4 flex justify-center gap-2">{action}</div>}
    </div>
  );
}

/** The confirmation beside a form's Save button once the change is stored (announced to screen readers). */
export function SavedNote({ show }: { show: boolean }) {
  return show ? (
    <span role="status" className="text-sm text-emerald-700 dark:text-emerald-400">
      Saved.
    </span>
  ) : null;
}

export function LoadingState({ label = "Loading…" }: { label?: string }) {
  return (
    <div data-testid="loading-state" className="flex items-center justify-center p-8 text-sm text-slate-600 dark:text-slate-400">
      <Spinner label={label} />
    </div>
  );
}

export function ErrorState({ error, retry }: { error: { message: string }; retry?: () => void }) {
  return (
    <div data-testid="error-state">
      <Alert tone="bad" title="Could not load this">
        <p>{/failed to fetch|fetch failed|networkerror|load failed/i.test(error.message) ? "The appliance did not answer (stopped, restarting or unreachable)." : error.message}</p>
        {retry && (
          <Button className="mt-2" onClick={retry}>
            Try again
          </Button>
        )}
      </Alert>
    </div>
  );
}

/**
 * What stands in for a query's content until it has data: a spinner while it loads, then the error
 * with a retry if it failed. Callers render it for `!query.isSuccess`, which also narrows `query.data`.
 */
export function QueryStatus({ query, label }: { query: { isPending: boolean; error: { message: string } | null; refetch: () => unknown }; label?: string }) {
  if (query.isPending || !query.error) return <LoadingState label={label} />;
  return <ErrorState error={query.error} retry={() => void query.refetch()} />;
}

/** A labelled control with hint and error; the error is announced and tied to the control (aria-describedby). */
export function Field({
  label,
  hint,
  error,
  children,
  id: given,
}: {
  label: ReactNode;
  hint?: ReactNode;
  error?: string;
  id?: string;
  children: (props: { id: string; "aria-invalid"?: boolean; "aria-describedby"?: string }) => ReactNode;
}) {
  const auto = useId();
  const id = given ?? auto;
  const describedBy = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="space-y-1">
      <label htmlFor={id} className="block text-sm font-medium">
        {label}
      </label>
      {children({ id, "aria-invalid": error ? true : undefined, "aria-describedby": describedBy })}
      {hint && (
        <p id={`${id}-hint`} className="text-xs text-slate-600 dark:text-slate-400">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} role="alert" data-testid="field-error" className="text-sm font-medium text-red-700 dark:text-red-400">
          {error}
        </p>
      )}
    </div>
  );
}

const inputClass =
  "block rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-sky-600 focus:outline-2 focus:outline-sky-600/30 aria-[invalid=true]:border-red-600 dark:border-slate-700 dark:bg-slate-950";

export function TextInput(props: InputHTMLAttributes<HTMLInputElement>) {
  return <input type="text" {...props} className={cx(inputClass, /\bw-/.test(props.className ?? "") ? "" : "w-full", props.className)} />;
}

export function Select({ children, ...props }: SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <select {...props} className={cx(inputClass, /\bw-/.test(props.className ?? "") ? "" : "w-full", props.className)}>
      {children}
    </select>
  );
}

/** A radio group as cards: each option has a title and a sentence saying what it means. */
export function RadioCards<T extends string>({
  legend,
  name,
  value,
  options,
  onChange,
  error,
}: {
  legend: string;
  name: string;
  value: T;
  options: { value: T; title: string; description: ReactNode; disabled?: boolean }[];
  onChange: (v: T) => void;
  error?: string;
}) {
  return (
    <fieldset>
      <legend className="mb-2 text-sm font-medium">{legend}</legend>
      <div className="grid gap-2 sm:grid-cols-2">
        {options.map((o) => (
          <label
            key={o.value}
            className={cx(
              "flex cursor-pointer gap-3 rounded-lg border p-3 text-sm has-[:focus-visible]:outline-2 has-[:focus-visible]:outline-sky-600",
              value === o.value ? "border-sky-600 bg-sky-50 dark:bg-sky-950" : "border-slate-300 dark:border-slate-700",
              o.disabled && "cursor-not-allowed opacity-60",
            )}
          >
            <input type="radio" className="mt-1" name={name} value={o.value} checked={value === o.value} disabled={o.disabled} onChange={() => onChange(o.value)} />
            <span>
              <span className="block font-medium">{o.title}</span>
              <span className="block text-slate-600 dark:text-slate-400">{o.description}</span>
            </span>
          </label>
        ))}
      </div>
      {error && (
        <p role="alert" data-testid="field-error" className="mt-1 text-sm font-medium text-red-700 dark:text-red-400">
          {error}
        </p>
      )}
    </fieldset>
  );
}

export function Checkbox({ label, checked, onChange, hint }: { label: ReactNode; checked: boolean; onChange: (v: boolean) => void; hint?: ReactNode }) {
  return (
    <label className="flex items-start gap-2 text-sm">
      <input type="checkbox" className="mt-1" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      <span>
        {label}
        {hint && <span className="block text-xs text-slate-600 dark:text-slate-400">{hint}</span>}
      </span>
    </label>
  );
}

/**
 * An on/off attribute (0 or 1) as a switch: role="switch" with aria-checked, labelled by the
 * <label htmlFor={id}> next to it. `disabled` (a locked attribute) shows it cannot change.
 */
export function Switch({ id, checked, onChange, disabled, invalid, describedBy }: { id: string; checked: boolean; onChange: (v: boolean) => void; disabled?: boolean; invalid?: boolean; describedBy?: string }) {
  return (
    <button
      type="button"
      id={id}
      role="switch"
      aria-checked={checked}
      aria-invalid={invalid || undefined}
      aria-describedby={describedBy}
      disabled={disabled}
      onClick={() => onChange(!checked)}
      className={cx(
        "relative inline-flex h-6 w-11 shrink-0 items-center rounded-full transition-colors focus:ring-2 focus:ring-sky-500 focus:outline-none disabled:cursor-not-allowed disabled:opacity-50",
        checked ? "bg-sky-700" : "bg-slate-300 dark:bg-slate-600",
      )}
    >
      <span className={cx("inline-block h-5 w-5 rounded-full bg-white shadow transition-transform", checked ? "translate-x-5" : "translate-x-0.5")} />
      <span className="sr-only">{checked ? "on" : "off"}</span>
    </button>
  );
}

/**
 * A modal dialog on the native <dialog>: focus moves in, Escape closes, focus returns.
 * Used for every confirmation and every small wizard.
 */
export function Dialog({ open, onClose, title, children, footer, wide }: { open: boolean; onClose: () => void; title: string; children: ReactNode; footer?: ReactNode; wide?: boolean }) {
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
      // React bubbles close/cancel through the component tree: a confirmation opened from inside
      // this dialog must not close it too, so only this dialog's own events count.
      onClose={(e) => e.target === e.currentTarget && onClose()}
      onCancel={(e) => {
        if (e.target !== e.currentTarget) return;
        e.preventDefault();
        onClose();
      }}
      className={cx(
        "m-auto w-[calc(100%-2rem)] rounded-lg border border-slate-200 bg-white p-0 text-slate-900 shadow-xl backdrop:bg-slate-900/50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100",
        wide ? "max-w-2xl" : "max-w-lg",
      )}
    >
      {open && (
        <div className="flex max-h-[85vh] flex-col">
          <div className="flex items-center justify-between border-b border-slate-200 px-4 py-3 dark:border-slate-800">
            <h2 id={hid} className="text-lg font-semibold">
              {title}
            </h2>
            <button type="button" onClick={onClose} aria-label="Close" className="rounded p-1 text-slate-500 hover:bg-slate-100 dark:hover:bg-slate-800">
              ✕
            </button>
          </div>
          <div className="space-y-4 overflow-y-auto px-4 py-4">{children}</div>
          {footer && <div className="flex flex-wrap justify-end gap-2 border-t border-slate-200 px-4 py-3 dark:border-slate-800">{footer}</div>}
        </div>
      )}
    </dialog>
  );
}

/** Confirmation for a destructive action: says what it affects, and the danger button names the action. */
export function ConfirmDialog({
  open,
  onClose,
  title,
  children,
  confirmLabel,
  onConfirm,
  busy,
  error,
  disabled,
}: {
  open: boolean;
  onClose: () => void;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  busy?: boolean;
  error?: string | null;
  /** The dialog explains why the action is impossible: its button stays disabled. */
  disabled?: boolean;
}) {
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={title}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button tone="danger" busy={busy} disabled={disabled} onClick={onConfirm} data-testid="confirm-button">
            {confirmLabel}
          </Button>
        </>
      }
    >
      {children}
      {error && (
        <Alert tone="bad" testId="confirm-error">
          {error}
        </Alert>
      )}
    </Dialog>
  );
}

export function Tabs({ tabs, current, label }: { tabs: { id: string; label: ReactNode; href: string }[]; current: string; label: string }) {
  return (
    <nav aria-label={label} className="mb-4 overflow-x-auto border-b border-slate-200 dark:border-slate-800">
      <ul className="flex min-w-max gap-1">
        {tabs.map((t) => (
          <li key={t.id}>
            <Link
              href={t.href}
              scroll={false}
              aria-current={t.id === current ? "page" : undefined}
              className={cx(
                "inline-block border-b-2 px-3 py-2 text-sm font-medium",
                t.id === current ? "border-sky-700 text-sky-800 dark:text-sky-300" : "border-transparent text-slate-600 hover:text-slate-900 dark:text-slate-400",
              )}
            >
              {t.label}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}

/** Steps of a wizard, with the current one marked for screen readers. */
export function Steps({ steps, current }: { steps: string[]; current: number }) {
  return (
    <ol aria-label="Steps" className="mb-6 flex flex-wrap gap-x-4 gap-y-2 text-sm">
      {steps.map((s, i) => (
        <li key={s} aria-current={i + 1 === current ? "step" : undefined} className={cx("flex items-center gap-2", i + 1 === current ? "font-semibold text-sky-800 dark:text-sky-300" : i + 1 < current ? "text-slate-700 dark:text-slate-300" : "text-slate-400")}>
          <span className={cx("flex h-6 w-6 items-center justify-center rounded-full border text-xs", i + 1 === current ? "border-sky-700 bg-sky-700 text-white" : i + 1 < current ? "border-sky-700 text-sky-700" : "border-slate-300")}>
            {i + 1 < current ? "✓" : i + 1}
          </span>
          {s}
        </li>
      ))}
    </ol>
  );
}

export function CopyBlock({ text, label, testId }: { text: string; label: string; testId?: string }) {
  return (
    <div className="relative">
      <pre data-testid={testId} aria-label={label} className="rounded-md bg-slate-900 p-3 pr-20 text-xs break-all whitespace-pre-wrap text-slate-100">
        <code>{text}</code>
      </pre>
      <button
        type="button"
        className="absolute top-2 right-2 rounded bg-slate-700 px-2 py-1 text-xs text-white hover:bg-slate-600"
        onClick={(e) => {
          const b = e.currentTarget;
          void navigator.clipboard?.writeText(text).then(
            () => (b.textContent = "Copied"),
            () => (b.textContent = "Select and copy"),
          );
          setTimeout(() => (b.textContent = "Copy"), 2000);
        }}
      >
        Copy
      </button>
    </div>
  );
}

export function DataTable({ children, label, compact }: { children: ReactNode; label: string; compact?: boolean }) {
  return (
    <div className="relative overflow-x-auto">
      <table aria-label={label} className={cx("w-full text-left text-sm", compact ? "" : "min-w-[36rem]")}>
        {children}
      </table>
    </div>
  );
}
export const th = "border-b border-slate-200 px-2 py-2 text-xs font-semibold tracking-wide text-slate-600 uppercase dark:border-slate-800 dark:text-slate-400";
export const td = "border-b border-slate-100 px-2 py-2 align-top dark:border-slate-800";

/** A column of a TableHead: its label, or the label with figures aligned right (`numeric`) or read only by screen readers (`hidden`). */
export type Column = string | { label: string; numeric?: boolean; hidden?: boolean };
/** The column of a row's buttons: named for screen readers, blank on screen. */
export const actionsColumn: Column = { label: "Actions", hidden: true };

/** A DataTable's header row. */
export function TableHead({ columns }: { columns: readonly Column[] }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => {
          const { label, numeric, hidden } = typeof c === "string" ? { label: c } : c;
          return (
            <th key={label} className={numeric ? `${th} text-right` : th}>
              {hidden ? <span className="sr-only">{label}</span> : label}
            </th>
          );
        })}
      </tr>
    </thead>
  );
}
