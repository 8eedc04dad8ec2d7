// Chart lines: history answers and live snapshots turned into the columns
// uPlot draws. A gap stays a gap: where data is missing a line gets a null,
// which uPlot draws as a break, never as a straight line across.

import { seriesKey, sampleMap } from './snapshot';
import { parseTimestamp } from './time';
import type { HistoryView, Point, Series, Snapshot } from './types';

/** One line: times in Unix seconds, ascending; a null value breaks the line. */
export interface LineData {
  t: number[];
  v: (number | null)[];
}

/** How a series becomes a line: gauges as they are, counters as a per-second rate. */
export type Transform = 'value' | 'rate';

/** uPlot's aligned columns: times, then one column per line. */
export type Aligned = [number[], ...(number | null | undefined)[][]];

/**
 * The largest distance between two neighbouring points of a line that is not
 * a gap, in seconds. Buckets at least as wide as the agent's interval each hold
 * a sample, so a missing bucket is a gap. Narrower buckets hold a sample only
 * every so often (5 s samples in 4 s buckets), so the gap starts beyond the
 * interval plus one bucket.
 */
export function gapThreshold(stepSecs: number, intervalSecs: number): number {
  return stepSecs >= intervalSecs ? stepSecs * 1.5 : (stepSecs + intervalSecs) * 1.25;
}

/** The per-second rate of a counter between two readings; a reset counts from zero. */
export function counterRate(prev: number, prevT: number, value: number, t: number): number | null {
  const dt = t - prevT;
  if (dt <= 0) return null;
  const increase = value >= prev ? value - prev : value;
  return increase / dt;
}

/**
 * A line from the buckets of a history answer: the mean of each bucket
 * (`value`), or for counters the rate between the last readings of
 * neighbouring buckets (`rate`). A null is put into every gap wider than
 * `gapSecs`; a rate needs two readings, so none is drawn across a gap.
 */
export function historyToLine(points: readonly Point[], transform: Transform, gapSecs: number): LineData {
  const line: LineData = { t: [], v: [] };
  let prevT = Number.NaN;
  let prevLast = 0;
  for (const point of points) {
    const t = parseTimestamp(point.t) / 1000;
    if (!Number.isFinite(t)) continue;
    const afterGap = Number.isFinite(prevT) && t - prevT > gapSecs;
    if (afterGap) {
      line.t.push(prevT + (t - prevT) / 2);
      line.v.push(null);
    }
    if (transform === 'value') {
      line.t.push(t);
      line.v.push(point.avg);
    } else if (Number.isFinite(prevT) && !afterGap) {
      line.t.push(t);
      line.v.push(counterRate(prevLast, prevT, point.last, t));
    }
    prevT = t;
    prevLast = point.last;
  }
  return line;
}

/** Index of the first time ≥ `t` in ascending `times`. */
function lowerBound(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Drops the points of `line` before `fromSec`, in place. */
export function trimLine(line: LineData, fromSec: number): void {
  const cut = lowerBound(line.t, fromSec);
  if (cut > 0) {
    line.t.splice(0, cut);
    line.v.splice(0, cut);
  }
}

/**
 * Appends one point in place, after a null when it is more than `gapSecs`
 * after the previous one. A point not newer than the last is ignored (the
 * stream may replay what history already holds).
 */
export function appendPoint(line: LineData, t: number, value: number | null, gapSecs: number): void {
  const lastT = line.t[line.t.length - 1];
  if (lastT !== undefined) {
    if (t <= lastT) return;
    if (t - lastT > gapSecs) {
      line.t.push(lastT + (t - lastT) / 2);
      line.v.push(null);
    }
  }
  line.t.push(t);
  line.v.push(value);
}

function sameTimes(lines: readonly LineData[]): boolean {
  const first = lines[0];
  if (!first) return true;
  for (const line of lines) {
    if (line.t.length !== first.t.length) return false;
  }
  for (let i = 0; i < first.t.length; i++) {
    const t = first.t[i];
    for (const line of lines) if (line.t[i] !== t) return false;
  }
  return true;
}

/**
 * The columns uPlot draws: the union of the lines' times, and per line its
 * value, null in its gaps, or undefined at a time where only other lines
 * have a point (uPlot joins across undefined, so a line is not broken by its
 * neighbours' timestamps).
 */
export function alignLines(lines: readonly LineData[]): Aligned {
  if (sameTimes(lines)) {
    const xs = lines[0]?.t ?? [];
    return [xs.slice(), ...lines.map((l) => l.v.slice())];
  }
  let total = 0;
  for (const line of lines) total += line.t.length;
  const all = new Float64Array(total);
  let k = 0;
  for (const line of lines) for (const t of line.t) all[k++] = t;
  all.sort();
  const xs: number[] = [];
  for (let i = 0; i < all.length; i++) {
    const t = all[i] as number;
    if (i === 0 || t !== all[i - 1]) xs.push(t);
  }
  const columns = lines.map((line) => {
    const ys = new Array<number | null | undefined>(xs.length).fill(undefined);
    let j = 0;
    for (let i = 0; i < line.t.length; i++) {
      const t = line.t[i] as number;
      while (j < xs.length && xs[j] !== t) j++;
      ys[j] = line.v[i] ?? null;
    }
    return ys;
  });
  return [xs, ...columns];
}

/** The largest of several lines at each time (the fullest filesystem). */
export function maxLine(lines: readonly LineData[]): LineData {
  const [xs, ...columns] = alignLines(lines);
  const out: LineData = { t: [], v: [] };
  xs.forEach((t, i) => {
    let best: number | null | undefined;
    for (const column of columns) {
      const v = column[i];
      if (typeof v === 'number') best = best === undefined || best === null ? v : Math.max(best, v);
      else if (v === null && best === undefined) best = null;
    }
    if (best !== undefined) {
      out.t.push(t);
      out.v.push(best);
    }
  });
  return out;
}

interface LineState extends LineData {
  transform: Transform;
  gapSecs: number;
  /** The last counter reading, for the next rate. */
  lastRaw: { t: number; v: number } | null;
}

/** Snapshots kept to replay over a history answer that arrives late. */
const RECENT = 64;

/**
 * The lines of one server, keyed by series (`seriesKey`): filled from history
 * answers, extended by live snapshots while `live`, trimmed to the last
 * `windowSecs` of data.
 */
export class LineStore {
  live = true;
  windowSecs: number | null = null;
  private readonly lines = new Map<string, LineState>();
  private readonly revisions = new Map<string, number>();
  private lastRevision = 0;
  private readonly recent: { t: number; samples: Map<string, number> }[] = [];

  constructor(private intervalSecs = 5) {}

  /** Forgets every line (a new time range), keeping the recent snapshots. */
  clear(): void {
    this.lines.clear();
    this.revisions.clear();
  }

  /** The line of a series, if loaded. */
  get(key: string): LineData | undefined {
    return this.lines.get(key);
  }

  /**
   * A number that changes whenever the line of `key` changes (0 when there is
   * none), so a chart redraws only when one of its lines did.
   */
  revision(key: string): number {
    return this.revisions.get(key) ?? 0;
  }

  private touch(key: string): void {
    this.lastRevision += 1;
    this.revisions.set(key, this.lastRevision);
  }

  /**
   * Sets the lines of a history answer (one per series), then replays the
   * snapshots received meanwhile that are newer than its buckets.
   */
  setHistory(view: HistoryView, transformOf: (series: Series) => Transform): void {
    const gapSecs = gapThreshold(view.step_secs, this.intervalSecs);
    const keys: string[] = [];
    for (const series of view.series) {
      const transform = transformOf(series);
      const key = seriesKey(series.metric, series.labels);
      const lastPoint = series.points[series.points.length - 1];
      this.lines.set(key, {
        ...historyToLine(series.points, transform, gapSecs),
        transform,
        gapSecs,
        lastRaw: lastPoint ? { t: parseTimestamp(lastPoint.t) / 1000, v: lastPoint.last } : null,
      });
      this.touch(key);
      keys.push(key);
    }
    if (this.live) {
      for (const { t, samples } of this.recent) this.extend(keys, t, samples);
    }
  }

  /**
   * Adds a live snapshot of this server: appended to every loaded line while
   * `live`, and kept for replay.
   */
  append(snapshot: Snapshot): void {
    if (snapshot.interval_secs) this.intervalSecs = snapshot.interval_secs;
    const t = parseTimestamp(snapshot.timestamp) / 1000;
    if (!Number.isFinite(t)) return;
    const samples = sampleMap(snapshot);
    this.recent.push({ t, samples });
    if (this.recent.length > RECENT) this.recent.shift();
    if (!this.live) return;
    this.extend(this.lines.keys(), t, samples);
    if (this.windowSecs !== null) {
      for (const [key, line] of this.lines) {
        const length = line.t.length;
        trimLine(line, t - this.windowSecs);
        if (line.t.length !== length) this.touch(key);
      }
    }
  }

  private extend(keys: Iterable<string>, t: number, samples: Map<string, number>): void {
    for (const key of keys) {
      const line = this.lines.get(key);
      const raw = samples.get(key);
      if (!line || raw === undefined) continue;
      const lastT = line.t[line.t.length - 1];
      if (lastT !== undefined && t <= lastT) continue;
      this.touch(key);
      if (line.transform === 'value') {
        appendPoint(line, t, raw, line.gapSecs);
        continue;
      }
      const prev = line.lastRaw;
      if (prev !== null && t <= prev.t) continue;
      line.lastRaw = { t, v: raw };
      if (prev === null) continue;
      if (t - prev.t > line.gapSecs) {
        // Too long since the last reading for a rate: mark the gap, start again.
        appendPoint(line, prev.t + (t - prev.t) / 2, null, Number.POSITIVE_INFINITY);
        continue;
      }
      // A rate follows a reading close enough before it: no gap to look for.
      appendPoint(line, t, counterRate(prev.v, prev.t, raw, t), Number.POSITIVE_INFINITY);
    }
  }
}
