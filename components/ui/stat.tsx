/**
 * A labelled figure (a "stat card"): the number big, what it is above, context below.
 * Kept apart from index.tsx so pages can add it without touching the kit's main file.
 * Test ids: <testId> on the card, <testId>-value on the number.
 */
import type { ReactNode } from "react";

export function Stat({ label, value, hint, testId, tone }: { label: string; value: ReactNode; hint?: ReactNode; testId?: string; tone?: "bad" | "ok" }) {
  return (
    <div data-testid={testId} className="rounded-lg border border-slate-200 bg-white p-3 shadow-sm dark:border-slate-800 dark:bg-slate-900">
      <div className="text-xs font-medium tracking-wide text-slate-600 uppercase dark:text-slate-400">{label}</div>
      <div
        className={`mt-1 text-2xl font-semibold tabular-nums${tone === "bad" ? " text-red-700 dark:text-red-400" : tone === "ok" ? " text-emerald-700 dark:text-emerald-400" : ""}`}
        data-testid={testId ? `${testId}-value` : undefined}
      >
        {value}
      </div>
      {hint && <div className="mt-0.5 text-xs text-slate-600 dark:text-slate-400">{hint}</div>}
    </div>
  );
}
