/**
 * Shared by the monitor-*.test.ts files: a one-LUN target restored into a fresh data
 * directory, a tRPC client authenticated like the CLI (runtime-file token), a strict
 * enough /metrics parser, and exact SCSI IO through the test initiator.
 */
import { expect } from "vitest";
import { IscsiClient } from "../support/iscsi-client";
import type { DemoTarget } from "../support/demo";

export const IQN = "iqn.2003-01.org.linux-iscsi.portico.x8664:sn.monitor00001";

/** The monitor tests' target: one ramdisk LUN, one portal on `port`. */
export function oneLun(port: number, sizeBytes = 16 * 1024 * 1024): DemoTarget {
  return { iqn: IQN, storageObjects: [{ name: "mon0", plugin: "ramdisk", size: sizeBytes }], ports: [port] };
}

/** The API client (support/api.ts), here too for the tests and e2e specs that import it from this file. */
export { apiClient } from "../support/api";

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format; throws on a line it does not understand. */
export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
      let l: RegExpExecArray | null;
      let consumed = 0;
      while ((l = re.exec(m[2]))) {
        labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
        consumed += l[0].length;
      }
      if (consumed !== m[2].length) throw new Error(`bad labels: ${line}`);
    }
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== "NaN") throw new Error(`bad value: ${line}`);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

export function metric(samples: MetricSample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hit.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hit.length} series`);
  return hit[0]?.value;
}

export async function scrape(url: string): Promise<MetricSample[]> {
  const r = await fetch(`${url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  return parseMetrics(await r.text());
}

export { read10, write10 } from "../support/cdb";

/** Logs in and clears any pending unit attention with TEST UNIT READY (an "other" command). */
export async function connect(port: number, initiatorName: string, isid?: string): Promise<{ client: IscsiClient; others: number }> {
  const client = await IscsiClient.connect(port);
  const r = await client.login({ initiatorName, targetName: IQN, isid });
  expect(r.statusClass).toBe(0);
  let others = 0;
  for (let i = 0; i < 5; i++) {
    others++;
    const t = await client.command(Buffer.alloc(6), { lun: 0 });
    if (t.status === 0) break;
  }
  return { client, others };
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, stepMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
