// The server page's time range: a live window ending now (15 min to 30 d),
// or a fixed range (typed in, or dragged on a chart).

export const PRESETS = [
  { id: '15m', label: '15 min', secs: 15 * 60 },
  { id: '1h', label: '1 h', secs: 3600 },
  { id: '6h', label: '6 h', secs: 6 * 3600 },
  { id: '24h', label: '24 h', secs: 86_400 },
  { id: '7d', label: '7 d', secs: 7 * 86_400 },
  { id: '30d', label: '30 d', secs: 30 * 86_400 },
] as const;

export type PresetId = (typeof PRESETS)[number]['id'];

export type TimeRange = { kind: 'live'; preset: PresetId } | { kind: 'fixed'; from: number; to: number };

export const DEFAULT_RANGE: TimeRange = { kind: 'live', preset: '15m' };

export interface ResolvedRange {
  /** Unix seconds. */
  from: number;
  to: number;
  /** True when new points extend the range as they arrive. */
  live: boolean;
  /** The window width in seconds. */
  windowSecs: number;
}

function presetSecs(id: PresetId): number {
  return PRESETS.find((p) => p.id === id)?.secs ?? 900;
}

export function resolveRange(range: TimeRange, nowSec: number): ResolvedRange {
  if (range.kind === 'live') {
    const secs = presetSecs(range.preset);
    return { from: nowSec - secs, to: nowSec, live: true, windowSecs: secs };
  }
  return { from: range.from, to: range.to, live: false, windowSecs: range.to - range.from };
}

/** The smallest range a zoom may select, in seconds. */
export const MIN_ZOOM_SECS = 10;

/** A fixed range from a drag on a chart (in either direction), at least MIN_ZOOM_SECS wide. */
export function zoomRange(a: number, b: number): TimeRange {
  const from = Math.min(a, b);
  const to = Math.max(a, b);
  if (to - from >= MIN_ZOOM_SECS) return { kind: 'fixed', from, to };
  const middle = (from + to) / 2;
  return { kind: 'fixed', from: middle - MIN_ZOOM_SECS / 2, to: middle + MIN_ZOOM_SECS / 2 };
}

/** How many buckets to ask for a chart `widthPx` wide: about one per pixel. */
export function pointsForWidth(widthPx: number): number {
  if (!Number.isFinite(widthPx)) return 1000;
  return Math.min(4000, Math.max(60, Math.round(widthPx)));
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Unix seconds as the value of an `<input type="datetime-local">` (local time, to the minute). */
export function toLocalInput(sec: number): string {
  const d = new Date(sec * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The value of an `<input type="datetime-local">` as Unix seconds, or null when empty or invalid. */
export function fromLocalInput(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(y, mo - 1, d, h, mi, Number.isNaN(s) ? 0 : s);
  return Number.isNaN(date.getTime()) ? null : date.getTime() / 1000;
}

/** The range in words: `last 1 h`, or its two ends in local time. */
export function describeRange(range: TimeRange): string {
  if (range.kind === 'live') {
    return `last ${PRESETS.find((p) => p.id === range.preset)?.label ?? ''}`;
  }
  const fmt = (sec: number) =>
    new Date(sec * 1000).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return `${fmt(range.from)} – ${fmt(range.to)}`;
}
