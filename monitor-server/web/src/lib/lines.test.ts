import { describe, expect, it } from 'vitest';

import {
  LineStore,
  alignLines,
  appendPoint,
  counterRate,
  gapThreshold,
  historyToLine,
  maxLine,
  trimLine,
  type LineData,
  type Transform,
} from './lines';
import type { HistoryView, Point, Snapshot } from './types';

const T0 = 1_795_000_000;

/** A bucket at T0 + `offset` seconds. */
function point(offset: number, avg: number, last = avg): Point {
  return { t: new Date((T0 + offset) * 1000).toISOString(), avg, min: avg, max: avg, last, count: 1 };
}

describe('gapThreshold', () => {
  it('treats a missing bucket as a gap when buckets are at least an interval wide', () => {
    expect(gapThreshold(60, 5)).toBe(90);
    expect(gapThreshold(5, 5)).toBe(7.5);
  });

  it('tolerates the empty buckets of buckets narrower than the interval', () => {
    // 5 s samples in 4 s buckets land 4 or 8 s apart; 10 s would be a missed sample.
    expect(gapThreshold(4, 5)).toBeGreaterThan(8);
    expect(gapThreshold(4, 5)).toBeLessThan(12);
  });
});

describe('historyToLine', () => {
  it('takes the mean of each bucket, with a null in each gap', () => {
    const line = historyToLine([point(0, 1), point(60, 2), point(300, 3), point(360, 4)], 'value', 90);
    expect(line.t).toEqual([T0, T0 + 60, T0 + 180, T0 + 300, T0 + 360]);
    expect(line.v).toEqual([1, 2, null, 3, 4]);
  });

  it('turns a counter into a per-second rate, across resets but not across gaps', () => {
    const points = [point(0, 0, 1000), point(60, 0, 1600), point(120, 0, 300), point(600, 0, 900), point(660, 0, 960)];
    const line = historyToLine(points, 'rate', 90);
    expect(line.t).toEqual([T0 + 60, T0 + 120, T0 + 360, T0 + 660]);
    expect(line.v).toEqual([10, 5, null, 1]);
  });

  it('skips unreadable times', () => {
    const bad: Point = { ...point(0, 1), t: 'yesterday' };
    expect(historyToLine([bad, point(60, 2)], 'value', 90).v).toEqual([2]);
  });
});

describe('counterRate', () => {
  it('counts a reset from zero and refuses a zero interval', () => {
    expect(counterRate(100, 0, 160, 6)).toBe(10);
    expect(counterRate(100, 0, 30, 6)).toBe(5);
    expect(counterRate(100, 6, 160, 6)).toBeNull();
  });
});

describe('alignLines', () => {
  it('shares the times of lines that have the same ones', () => {
    const a = { t: [1, 2, 3], v: [1, null, 3] };
    const b = { t: [1, 2, 3], v: [4, 5, 6] };
    expect(alignLines([a, b])).toEqual([[1, 2, 3], [1, null, 3], [4, 5, 6]]);
  });

  it('merges different times, undefined where a line has no point and null in its gaps', () => {
    const a = { t: [10, 20, 30], v: [1, null, 3] };
    const b = { t: [15, 30, 45], v: [7, 8, 9] };
    const [xs, ya, yb] = alignLines([a, b]);
    expect(xs).toEqual([10, 15, 20, 30, 45]);
    expect(ya).toEqual([1, undefined, null, 3, undefined]);
    expect(yb).toEqual([undefined, 7, undefined, 8, 9]);
  });

  it('handles no lines and empty lines', () => {
    expect(alignLines([])).toEqual([[]]);
    expect(alignLines([{ t: [], v: [] }, { t: [1], v: [2] }])).toEqual([[1], [undefined], [2]]);
  });

  it('aligns 100,000 points quickly', () => {
    const n = 100_000;
    const a: LineData = { t: Array.from({ length: n }, (_, i) => i * 2), v: Array.from({ length: n }, (_, i) => i) };
    const b: LineData = { t: Array.from({ length: n }, (_, i) => i * 2 + 1), v: Array.from({ length: n }, (_, i) => i) };
    const started = performance.now();
    const [xs] = alignLines([a, b]);
    expect(xs.length).toBe(2 * n);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('appendPoint and trimLine', () => {
  it('appends newer points, ignores older ones, and breaks the line after a gap', () => {
    const line: LineData = { t: [100], v: [1] };
    appendPoint(line, 105, 2, 7.5);
    appendPoint(line, 103, 9, 7.5);
    appendPoint(line, 125, 3, 7.5);
    expect(line).toEqual({ t: [100, 105, 115, 125], v: [1, 2, null, 3] });
    trimLine(line, 110);
    expect(line).toEqual({ t: [115, 125], v: [null, 3] });
  });
});

describe('maxLine', () => {
  it('takes the largest value at each time', () => {
    const a = { t: [1, 2, 3], v: [10, null, 30] };
    const b = { t: [1, 3, 4], v: [20, 5, 40] };
    expect(maxLine([a, b])).toEqual({ t: [1, 2, 3, 4], v: [20, null, 30, 40] });
  });
});

function history(metric: string, kind: 'gauge' | 'counter', points: Point[], step = 5): HistoryView {
  return {
    server_id: 'srv-01',
    from: new Date(T0 * 1000).toISOString(),
    to: new Date((T0 + 3600) * 1000).toISOString(),
    step_secs: step,
    tier: 'raw',
    series: [{ metric, labels: {}, kind, unit: kind === 'counter' ? 'bytes' : 'percent', points }],
  };
}

function snapshot(offset: number, values: Record<string, number>): Snapshot {
  return {
    version: 1,
    server_id: 'srv-01',
    timestamp: new Date((T0 + offset) * 1000).toISOString(),
    interval_secs: 5,
    metrics: Object.entries(values).map(([name, value]) => ({ name, samples: [{ value }] })),
  };
}

/** The drawn part of a line. */
function drawn(line: LineData | undefined): LineData | undefined {
  return line && { t: line.t, v: line.v };
}

describe('LineStore', () => {
  const transform = (s: { kind: string }): Transform => (s.kind === 'counter' ? 'rate' : 'value');

  it('extends loaded lines with live snapshots and trims them to the window', () => {
    const store = new LineStore(5);
    store.windowSecs = 12;
    store.setHistory(history('cpu_usage_percent', 'gauge', [point(0, 10), point(5, 11)]), transform);
    const before = store.revision('cpu_usage_percent');
    store.append(snapshot(10, { cpu_usage_percent: 12, unknown_metric: 1 }));
    store.append(snapshot(15, { cpu_usage_percent: 13 }));
    expect(drawn(store.get('cpu_usage_percent'))).toEqual({ t: [T0 + 5, T0 + 10, T0 + 15], v: [11, 12, 13] });
    expect(store.revision('cpu_usage_percent')).toBeGreaterThan(before);
    expect(store.get('unknown_metric')).toBeUndefined();
  });

  it('replays snapshots that arrived before their history', () => {
    const store = new LineStore(5);
    store.append(snapshot(5, { cpu_usage_percent: 50 }));
    store.append(snapshot(10, { cpu_usage_percent: 60 }));
    store.setHistory(history('cpu_usage_percent', 'gauge', [point(0, 40), point(5, 45)]), transform);
    expect(drawn(store.get('cpu_usage_percent'))).toEqual({ t: [T0, T0 + 5, T0 + 10], v: [40, 45, 60] });
  });

  it('makes rates of live counter readings', () => {
    const store = new LineStore(5);
    store.setHistory(history('rx_total', 'counter', [point(0, 0, 1000), point(5, 0, 1500)]), transform);
    store.append(snapshot(10, { rx_total: 2500 }));
    store.append(snapshot(40, { rx_total: 2600 }));
    store.append(snapshot(45, { rx_total: 3100 }));
    expect(drawn(store.get('rx_total'))).toEqual({ t: [T0 + 5, T0 + 10, T0 + 25, T0 + 45], v: [100, 200, null, 100] });
  });

  it('does not extend a fixed range, and clear forgets the lines', () => {
    const store = new LineStore(5);
    store.live = false;
    store.setHistory(history('load_average_1m', 'gauge', [point(0, 1)]), transform);
    store.append(snapshot(5, { load_average_1m: 2 }));
    expect(store.get('load_average_1m')?.v).toEqual([1]);
    store.clear();
    expect(store.get('load_average_1m')).toBeUndefined();
    expect(store.revision('load_average_1m')).toBe(0);
  });
});
