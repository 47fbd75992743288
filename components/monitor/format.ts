/** Number formatting for the monitoring pages: units always shown (IOPS, MB/s = 10^6 B/s, ms/µs). */

export function fmtIops(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "–";
  if (n >= 100_000) return `${(n / 1000).toFixed(0)}k`;
  if (n >= 10_000) return `${(n / 1000).toFixed(1)}k`;
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(n === 0 ? 0 : 2);
}

export function fmtMBps(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "–";
  if (n >= 1000) return `${(n / 1000).toFixed(2)} GB/s`;
  if (n >= 100) return `${n.toFixed(0)} MB/s`;
  if (n >= 1) return `${n.toFixed(1)} MB/s`;
  if (n === 0) return "0 MB/s";
  return `${(n * 1000).toFixed(n * 1000 >= 10 ? 0 : 1)} kB/s`;
}

/** A latency in µs as µs or ms. */
export function fmtLatency(us: number | undefined): string {
  if (us === undefined || !Number.isFinite(us)) return "–";
  if (us === 0) return "0";
  if (us < 1000) return `${us.toFixed(0)} µs`;
  if (us < 10_000) return `${(us / 1000).toFixed(2)} ms`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(0)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

/** Sizes in binary units, the same as everywhere else in the console. */
export { formatBytes as fmtBytes } from "../form";

export function fmtCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export function fmtTime(ms: number, withSeconds = true): string {
  const d = new Date(ms);
  return d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", ...(withSeconds ? { second: "2-digit" } : {}) });
}

export function fmtDateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.toLocaleDateString("en-CA")} ${d.toLocaleTimeString("en-GB")}`;
}

export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** The LUN detail URL for a LUN key (`iqn|tpg|lun`). */
export function lunHref(key: string): string {
  return `/luns/${encodeURIComponent(key)}`;
}

export function sessionHref(id: string): string {
  return `/sessions/${encodeURIComponent(id)}`;
}

/** Joins class names, skipping falsy ones. */
export const cx = (...c: (string | false | null | undefined)[]) => c.filter(Boolean).join(" ");
