/**
 * The browser side of the live stream without a browser: the chart buffer keeps 15
 * minutes in place and takes a seed in front; the feed tells its listeners after each
 * sample, tells no one while the tab is hidden and catches up once when it is shown.
 */
import { afterEach, describe, expect, it } from "vitest";
import { historyToPoints, LiveFeed, SeriesBuffer, type ChartPoint } from "../../../components/monitor/live";

const point = (t: number, v = t): ChartPoint => ({ t, readIops: v, writeIops: 2 * v, readMBps: 0, writeMBps: 0, readP99Us: 0, writeP99Us: 0 });

describe("SeriesBuffer", () => {
  it("appends in place up to its capacity, dropping the oldest, and ignores a sample that is not newer", () => {
    const b = new SeriesBuffer(3);
    const t = b.t;
    for (const x of [1, 2, 3, 4]) b.append(x, point(x));
    b.append(4, point(4, 99));
    expect(b.t).toBe(t); // the same arrays: uPlot keeps references, nothing is copied per sample
    expect(b.t).toEqual([2, 3, 4]);
    expect(b.cols.readIops).toEqual([2, 3, 4]);
    expect(b.cols.writeIops).toEqual([4, 6, 8]);
    expect(b.last()?.readIops).toBe(4);
  });

  it("puts a seed's older points in front of what the stream brought, within capacity", () => {
    const b = new SeriesBuffer(4);
    b.append(10, point(10));
    b.append(11, point(11));
    b.prepend([5, 6, 7, 8, 9, 10].map((x) => point(x)));
    expect(b.t).toEqual([8, 9, 10, 11]);
    expect(b.cols.readIops).toEqual([8, 9, 10, 11]);
  });

  it("reads the sampler's columnar history", () => {
    const cols = { readIops: [1, 2], writeIops: [3, 4], readMBps: [0, 0], writeMBps: [0, 0], readP99Us: [5, 6], writeP99Us: [7, 8] };
    const pts = historyToPoints({ t: [1000, 2000], columns: cols as never });
    expect(pts).toEqual([
      { t: 1000, readIops: 1, writeIops: 3, readMBps: 0, writeMBps: 0, readP99Us: 5, writeP99Us: 7 },
      { t: 2000, readIops: 2, writeIops: 4, readMBps: 0, writeMBps: 0, readP99Us: 6, writeP99Us: 8 },
    ]);
  });
});

describe("LiveFeed", () => {
  const g = globalThis as { document?: { visibilityState: string } };
  afterEach(() => {
    delete g.document;
  });

  it("notifies listeners, not while the tab is hidden, and once when it is shown again", () => {
    const feed = new LiveFeed();
    let calls = 0;
    const off = feed.subscribe(() => calls++);
    feed.notify();
    expect(calls).toBe(1);
    g.document = { visibilityState: "hidden" };
    feed.notify();
    feed.notify();
    expect(calls).toBe(1);
    g.document.visibilityState = "visible";
    feed.resume();
    expect(calls).toBe(2);
    feed.resume(); // nothing new arrived
    expect(calls).toBe(2);
    off();
    feed.notify();
    expect(calls).toBe(2);
  });
});
