"use client";
/**
 * IO charts (recharts): IOPS, throughput and latency over time, read and write as two
 * distinguished series (colour and dash), axes with units, tooltips with values.
 */
import { memo, useMemo } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { fmtIops, fmtLatency, fmtMBps, fmtTime } from "./format";

export type ChartKind = "iops" | "throughput" | "latency";

export interface ChartPoint {
  t: number;
  readIops: number;
  writeIops: number;
  readMBps: number;
  writeMBps: number;
  readP99Us: number;
  writeP99Us: number;
}

const READ = "#0369a1"; // sky-700
const WRITE = "#c2410c"; // orange-700

const SPEC: Record<ChartKind, { title: string; unit: string; read: keyof ChartPoint; write: keyof ChartPoint; fmt: (n: number) => string; axis: (n: number) => string }> = {
  iops: { title: "IOPS", unit: "IO/s", read: "readIops", write: "writeIops", fmt: (n) => `${fmtIops(n)} IO/s`, axis: (n) => fmtIops(n) },
  throughput: { title: "Throughput", unit: "MB/s", read: "readMBps", write: "writeMBps", fmt: fmtMBps, axis: (n) => (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n.toFixed(2)) },
  latency: {
    title: "Latency (p99)",
    unit: "ms",
    read: "readP99Us",
    write: "writeP99Us",
    fmt: fmtLatency,
    axis: (us) => {
      const ms = us / 1000;
      return ms >= 10 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(1) : ms.toFixed(2);
    },
  },
};

/** At most this many points per line: a 900-sample window is averaged in groups (SVG cost grows with points). */
export const MAX_POINTS = 300;

/** Averages consecutive points so that at most `max` remain; the newest point is always kept as is. */
export function thin(data: ChartPoint[], max = MAX_POINTS): ChartPoint[] {
  if (data.length <= max) return data;
  const k = Math.ceil(data.length / max);
  const out: ChartPoint[] = [];
  // Groups are aligned to the end so the newest sample stays exact and groups do not shift each second.
  const start = data.length % k;
  if (start) out.push(avg(data, 0, start));
  for (let i = start; i < data.length; i += k) out.push(avg(data, i, i + k));
  return out;
}

function avg(data: ChartPoint[], from: number, to: number): ChartPoint {
  const n = to - from;
  const o: ChartPoint = { t: data[to - 1].t, readIops: 0, writeIops: 0, readMBps: 0, writeMBps: 0, readP99Us: 0, writeP99Us: 0 };
  for (let i = from; i < to; i++) {
    const p = data[i];
    o.readIops += p.readIops / n;
    o.writeIops += p.writeIops / n;
    o.readMBps += p.readMBps / n;
    o.writeMBps += p.writeMBps / n;
    // Latency: the worst of the group, not the mean (a spike must stay visible).
    o.readP99Us = Math.max(o.readP99Us, p.readP99Us);
    o.writeP99Us = Math.max(o.writeP99Us, p.writeP99Us);
  }
  return o;
}

export const IoChart = memo(function IoChart({ kind, data: raw, height = 180, spanMs, testId, withDate }: { kind: ChartKind; data: ChartPoint[]; height?: number; spanMs?: number; testId?: string; withDate?: boolean }) {
  const spec = SPEC[kind];
  const data = useMemo(() => thin(raw), [raw]);
  const last = data.length ? data[data.length - 1] : undefined;
  const now = last?.t ?? Date.now();
  const domain: [number, number] | ["dataMin", "dataMax"] = spanMs ? [now - spanMs, now] : ["dataMin", "dataMax"];
  const tick = (t: number) => (withDate ? `${new Date(t).toLocaleDateString("en-CA").slice(5)} ${fmtTime(t, false)}` : fmtTime(t, !spanMs || spanMs <= 3600_000));
  return (
    <figure data-testid={testId} data-kind={kind} data-points={raw.length} className="min-w-0">
      <figcaption className="mb-1 flex items-baseline justify-between text-sm">
        <span className="font-medium">
          {spec.title} <span className="text-xs font-normal text-slate-500">({spec.unit})</span>
        </span>
        {last && (
          <span className="text-xs text-slate-600 tabular-nums dark:text-slate-400" data-testid={testId ? `${testId}-current` : undefined}>
            <span style={{ color: READ }}>R {spec.fmt(last[spec.read] as number)}</span> · <span style={{ color: WRITE }}>W {spec.fmt(last[spec.write] as number)}</span>
          </span>
        )}
      </figcaption>
      <div style={{ height }} className="w-full">
        {data.length === 0 ? (
          <div className="flex h-full items-center justify-center rounded border border-dashed border-slate-300 text-xs text-slate-500 dark:border-slate-700" data-testid="chart-empty">
            No samples yet
          </div>
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <LineChart data={data} margin={{ top: 4, right: 8, bottom: 0, left: 0 }}>
              <CartesianGrid strokeDasharray="3 3" stroke="#e2e8f0" />
              <XAxis dataKey="t" type="number" scale="time" domain={domain} tickFormatter={tick} tick={{ fontSize: 11 }} minTickGap={40} />
              <YAxis
                tickFormatter={spec.axis}
                tick={{ fontSize: 11 }}
                width={48}
                label={{ value: spec.unit, angle: -90, position: "insideLeft", fontSize: 11, offset: 10 }}
                allowDecimals
              />
              <Tooltip
                labelFormatter={(t) => (withDate ? new Date(Number(t)).toLocaleString("en-GB") : fmtTime(Number(t)))}
                formatter={(v, name) => [spec.fmt(Number(v)), name]}
                isAnimationActive={false}
              />
              <Legend verticalAlign="top" height={20} iconSize={10} wrapperStyle={{ fontSize: 12 }} />
              <Line type="monotone" dataKey={spec.read as string} name="Read" stroke={READ} strokeWidth={1.8} dot={false} isAnimationActive={false} />
              <Line type="monotone" dataKey={spec.write as string} name="Write" stroke={WRITE} strokeWidth={1.8} strokeDasharray="5 3" dot={false} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        )}
      </div>
    </figure>
  );
});

/** The three charts side by side (stacked on narrow screens). */
export const IoCharts = memo(function IoCharts({ data, spanMs, testIdPrefix, withDate, height }: { data: ChartPoint[]; spanMs?: number; testIdPrefix: string; withDate?: boolean; height?: number }) {
  return (
    <div className="grid gap-4 lg:grid-cols-3">
      <IoChart kind="iops" data={data} spanMs={spanMs} testId={`${testIdPrefix}-iops`} withDate={withDate} height={height} />
      <IoChart kind="throughput" data={data} spanMs={spanMs} testId={`${testIdPrefix}-throughput`} withDate={withDate} height={height} />
      <IoChart kind="latency" data={data} spanMs={spanMs} testId={`${testIdPrefix}-latency`} withDate={withDate} height={height} />
    </div>
  );
});
