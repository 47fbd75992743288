"use client";
/**
 * IO charts on canvas (uPlot): IOPS, throughput and latency over time, read and write as
 * two distinguished series (colour and dash), axes with units, a tooltip with the values
 * under the cursor.
 *
 * Live charts read a LiveFeed's columnar buffer and redraw themselves when the feed says
 * a sample arrived (one canvas draw per second, no React render, no SVG nodes); the
 * figure caption's current values and data-points are written to the DOM directly.
 * Stored-history charts get their points once per fetch.
 * Test ids: <prefix>-iops/-throughput/-latency (data-points), <id>-current, chart-tooltip, chart-empty.
 */
import { memo, useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { fmtDateTime, fmtIops, fmtLatency, fmtMBps, fmtTime } from "./format";
import { CHART_FIELDS, type ChartField, type ChartPoint, type LiveFeed } from "./live";

export type { ChartPoint };
export type ChartKind = "iops" | "throughput" | "latency";

const READ = "#0369a1"; // sky-700
const WRITE = "#c2410c"; // orange-700
const AXIS = "#64748b"; // slate-500: readable on light and dark
const GRID = "rgba(148, 163, 184, 0.3)";
const FONT = "11px ui-sans-serif, system-ui, sans-serif";

const SPEC: Record<ChartKind, { title: string; unit: string; read: ChartField; write: ChartField; fmt: (n: number) => string; axis: (n: number) => string }> = {
  iops: { title: "IOPS", unit: "IO/s", read: "readIops", write: "writeIops", fmt: (n) => `${fmtIops(n)} IO/s`, axis: (n) => fmtIops(n) },
  throughput: { title: "Throughput", unit: "MB/s", read: "readMBps", write: "writeMBps", fmt: fmtMBps, axis: (n) => (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2)) },
  latency: {
    title: "Latency (p99)",
    unit: "ms",
    read: "readP99Us",
    write: "writeP99Us",
    fmt: (us) => (us === 0 ? "0 ms" : fmtLatency(us)),
    axis: (us) => {
      const ms = us / 1000;
      return ms >= 10 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(1) : ms.toFixed(2);
    },
  },
};

type Columns = { t: number[] } & Record<ChartField, number[]>;

function columnsOf(points: ChartPoint[]): Columns {
  const c = { t: points.map((p) => p.t) } as Columns;
  for (const f of CHART_FIELDS) c[f] = points.map((p) => p[f]);
  return c;
}

/** The x axis: 15 minutes or the chosen range ending at the newest point, in wall-clock ms. */
function options(kind: ChartKind, width: number, height: number, spanMs: number | undefined, withDate: boolean | undefined, tip: HTMLDivElement): uPlot.Options {
  const spec = SPEC[kind];
  const tick = (t: number) => (withDate ? `${new Date(t).toLocaleDateString("en-CA").slice(5)} ${fmtTime(t, false)}` : fmtTime(t, !spanMs || spanMs <= 3600_000));
  const when = (t: number) => (withDate ? fmtDateTime(t) : fmtTime(t));
  return {
    width,
    height,
    ms: 1,
    pxAlign: false,
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: {
      // No data yet: the range still ends now (not at 1970).
      x: { time: true, range: (_u, min, max) => (max === null || !Number.isFinite(max) ? (spanMs ? [Date.now() - spanMs, Date.now()] : [Date.now() - 60_000, Date.now()]) : spanMs ? [max - spanMs, max] : [min, max]) },
      // From zero; an idle chart still gets a readable scale (1 IO/s, 1 MB/s, 1 ms).
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : kind === "latency" ? 1000 : 1] },
    },
    axes: [
      { stroke: AXIS, font: FONT, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1 }, space: 70, values: (_u, splits) => splits.map(tick) },
      {
        stroke: AXIS,
        font: FONT,
        labelFont: FONT,
        label: spec.unit,
        labelSize: 16,
        size: 44,
        grid: { stroke: GRID, width: 1 },
        ticks: { stroke: GRID, width: 1 },
        values: (_u, splits) => splits.map(spec.axis),
      },
    ],
    series: [
      {},
      { label: "Read", stroke: READ, width: 1.6, points: { show: false } },
      { label: "Write", stroke: WRITE, width: 1.6, dash: [5, 3], points: { show: false } },
    ],
    hooks: {
      setCursor: [
        (u) => {
          const i = u.cursor.idx;
          const left = u.cursor.left ?? -1;
          if (i === null || i === undefined || left < 0) {
            tip.hidden = true;
            return;
          }
          const t = u.data[0][i];
          const r = u.data[1][i];
          const w = u.data[2][i];
          tip.hidden = false;
          const [head, rl, wl] = Array.from(tip.children);
          head.textContent = when(t);
          rl.textContent = `Read ${r === null || r === undefined ? "–" : spec.fmt(r)}`;
          wl.textContent = `Write ${w === null || w === undefined ? "–" : spec.fmt(w)}`;
          // Keep the box inside the plot: left of the cursor in the right half.
          const plotW = u.over.clientWidth;
          tip.style.left = `${left > plotW / 2 ? left - tip.offsetWidth - 10 : left + 10}px`;
          tip.style.top = `${Math.max(0, (u.cursor.top ?? 0) - 10)}px`;
        },
      ],
    },
  };
}

function makeTip(): HTMLDivElement {
  const tip = document.createElement("div");
  tip.hidden = true;
  tip.setAttribute("data-testid", "chart-tooltip");
  tip.setAttribute("role", "tooltip");
  tip.className =
    "pointer-events-none absolute z-10 rounded border border-slate-300 bg-white/95 px-2 py-1 text-xs whitespace-nowrap text-slate-900 shadow tabular-nums dark:border-slate-700 dark:bg-slate-900/95 dark:text-slate-100";
  const head = document.createElement("div");
  head.className = "font-medium";
  const r = document.createElement("div");
  r.style.color = READ;
  const w = document.createElement("div");
  w.style.color = WRITE;
  tip.append(head, r, w);
  return tip;
}

/**
 * One chart. Give it `feed` (live: redraws itself on each sample) or `points` (stored
 * history: drawn when the points change).
 */
export const IoChart = memo(function IoChart({
  kind, feed, points, height = 180, spanMs, testId, withDate,
}: { kind: ChartKind; feed?: LiveFeed; points?: ChartPoint[]; height?: number; spanMs?: number; testId?: string; withDate?: boolean }) {
  const spec = SPEC[kind];
  const figure = useRef<HTMLElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const current = useRef<HTMLSpanElement>(null);
  const empty = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const fixed = points ? columnsOf(points) : undefined;
    const cols = (): Columns => fixed ?? ({ t: feed!.series.t, ...feed!.series.cols } as Columns);
    const data = (): uPlot.AlignedData => {
      const c = cols();
      return [c.t, c[spec.read], c[spec.write]];
    };
    const tip = makeTip();
    const u = new uPlot(options(kind, Math.max(100, el.clientWidth), height, spanMs, withDate, tip), data(), el);
    u.over.appendChild(tip);
    let shown = "";
    let drawnT = 0;
    const paint = () => {
      const c = cols();
      const n = c.t.length;
      figure.current?.setAttribute("data-points", String(n));
      if (empty.current && empty.current.hidden !== n > 0) empty.current.hidden = n > 0;
      const cur = current.current;
      if (cur) {
        cur.hidden = n === 0;
        if (n) {
          const [r, , w] = Array.from(cur.childNodes);
          const rt = `R ${spec.fmt(c[spec.read][n - 1])}`;
          const wt = `W ${spec.fmt(c[spec.write][n - 1])}`;
          if (r.textContent !== rt) r.textContent = rt;
          if (w.textContent !== wt) w.textContent = wt;
        }
      }
      // The live buffer is mutated in place: redraw only when its newest point moved, and
      // not before it moved by a pixel (15 minutes on ~400 px is ~2 s a pixel: a redraw each
      // second would mostly draw the same picture). The caption above still changes each second.
      const key = n ? `${n}:${c.t[n - 1]}:${c.t[0]}` : "0";
      if (key === shown) return;
      // (A seed put in front changes only the oldest point: drawn at once.)
      if (!fixed && spanMs && n && drawnT && c.t[n - 1] !== drawnT && c.t[n - 1] - drawnT < spanMs / Math.max(1, u.bbox.width / uPlot.pxRatio)) return;
      shown = key;
      drawnT = n ? c.t[n - 1] : 0;
      u.setData(data());
    };
    paint();
    const ro = new ResizeObserver(() => {
      const w = Math.max(100, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height });
    });
    ro.observe(el);
    const unsubscribe = feed?.subscribe(paint);
    return () => {
      unsubscribe?.();
      ro.disconnect();
      u.destroy();
    };
  }, [kind, spec, feed, points, height, spanMs, withDate]);

  return (
    <figure ref={figure} data-testid={testId} data-kind={kind} data-points={0} className="min-w-0">
      <figcaption className="mb-1 flex flex-wrap items-baseline justify-between gap-x-2 text-sm">
        <span className="font-medium">
          {spec.title} <span className="text-xs font-normal text-slate-500">({spec.unit})</span>
        </span>
        <span className="text-xs text-slate-600 tabular-nums dark:text-slate-400" data-testid={testId ? `${testId}-current` : undefined} ref={current} hidden>
          <span style={{ color: READ }} />
          {" · "}
          <span style={{ color: WRITE }} />
        </span>
      </figcaption>
      <div className="mb-1 flex gap-3 text-xs text-slate-600 dark:text-slate-400" aria-hidden>
        <span className="inline-flex items-center gap-1">
          <svg width="16" height="4"><line x1="0" y1="2" x2="16" y2="2" stroke={READ} strokeWidth="2" /></svg>Read
        </span>
        <span className="inline-flex items-center gap-1">
          <svg width="16" height="4"><line x1="0" y1="2" x2="16" y2="2" stroke={WRITE} strokeWidth="2" strokeDasharray="5 3" /></svg>Write
        </span>
      </div>
      <div className="relative w-full" style={{ height }}>
        <div ref={box} className="h-full w-full" role="img" aria-label={`${spec.title} in ${spec.unit}, read and write`} />
        <div
          ref={empty}
          className="pointer-events-none absolute inset-0 flex items-center justify-center rounded border border-dashed border-slate-300 bg-white/70 text-xs text-slate-500 dark:border-slate-700 dark:bg-slate-900/70"
          data-testid="chart-empty"
        >
          No samples yet
        </div>
      </div>
    </figure>
  );
});

/** The three charts side by side (stacked on narrow screens). */
export const IoCharts = memo(function IoCharts({
  feed, points, spanMs, testIdPrefix, withDate, height,
}: { feed?: LiveFeed; points?: ChartPoint[]; spanMs?: number; testIdPrefix: string; withDate?: boolean; height?: number }) {
  return (
    <div className="grid gap-4 lg:grid-cols-3">
      {(["iops", "throughput", "latency"] as const).map((k) => (
        <IoChart key={k} kind={k} feed={feed} points={points} spanMs={spanMs} testId={`${testIdPrefix}-${k}`} withDate={withDate} height={height} />
      ))}
    </div>
  );
});
