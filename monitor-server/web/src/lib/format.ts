// Human-readable values for tables, legends and chart axes. Every function
// answers "—" for a missing or non-finite value.

import type { Labels, Unit } from './types';

export const MISSING = '—';

function finite(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** Three significant digits at most, with no trailing zeros after the point. */
function short(v: number): string {
  const abs = Math.abs(v);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return String(Number(v.toFixed(digits)));
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Bytes in binary units, as `free -h` and `docker stats` show them: `1.5 GiB`. */
export function formatBytes(bytes: number | null | undefined): string {
  if (!finite(bytes)) return MISSING;
  let v = Math.abs(bytes);
  let i = 0;
  while (v >= 1024 && i < IEC.length - 1) {
    v /= 1024;
    i += 1;
  }
  // Values just under the next unit would round up to "1024 KiB".
  if (Number(v.toFixed(0)) >= 1024 && i < IEC.length - 1) {
    v /= 1024;
    i += 1;
  }
  const text = i === 0 ? String(Math.round(v)) : short(v);
  return `${bytes < 0 ? '-' : ''}${text} ${IEC[i]}`;
}

/** Bytes per second: `12 MiB/s`. */
export function formatRate(bytesPerSecond: number | null | undefined): string {
  const text = formatBytes(bytesPerSecond);
  return text === MISSING ? text : `${text}/s`;
}

/** A percentage with one decimal: `42.5%`. */
export function formatPercent(v: number | null | undefined): string {
  if (!finite(v)) return MISSING;
  return `${v.toFixed(1)}%`;
}

const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

/** A plain number, with k, M, G... from a thousand on: `0.42`, `1.23k`. */
export function formatNumber(v: number | null | undefined): string {
  if (!finite(v)) return MISSING;
  let abs = Math.abs(v);
  let i = 0;
  while (abs >= 1000 && i < SI.length - 1) {
    abs /= 1000;
    i += 1;
  }
  if (Number(abs.toFixed(0)) >= 1000 && i < SI.length - 1) {
    abs /= 1000;
    i += 1;
  }
  return `${v < 0 ? '-' : ''}${short(abs)}${SI[i]}`;
}

/** A duration in seconds, in its two largest units: `3 d 4 h`, `12 min`, `45 s`. */
export function formatDuration(secs: number | null | undefined): string {
  if (!finite(secs)) return MISSING;
  const s = Math.max(0, Math.round(secs));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  if (m > 0) return `${m} min`;
  return `${s % 60} s`;
}

/** How long ago an instant was: `just now`, `12 s ago`, `3 min ago`, `2 h ago`, `4 d ago`. */
export function formatAgo(ms: number | null | undefined, nowMs: number): string {
  if (!finite(ms)) return 'never';
  const secs = Math.floor((nowMs - ms) / 1000);
  if (secs < 5) return 'just now';
  if (secs < 60) return `${secs} s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86_400) return `${Math.floor(secs / 3600)} h ago`;
  return `${Math.floor(secs / 86_400)} d ago`;
}

/** A value in its unit: the formatter charts, legends and tables share. */
export function formatValue(v: number | null | undefined, unit: Unit): string {
  switch (unit) {
    case 'bytes':
      return formatBytes(v);
    case 'bytes_per_second':
      return formatRate(v);
    case 'percent':
      return formatPercent(v);
    case 'per_second': {
      const text = formatNumber(v);
      return text === MISSING ? text : `${text}/s`;
    }
    case 'seconds':
      return formatDuration(v);
    case 'celsius': {
      const text = formatNumber(v);
      return text === MISSING ? text : `${text} °C`;
    }
    case '':
    case 'count':
      return formatNumber(v);
    default: {
      const text = formatNumber(v);
      return text === MISSING ? text : `${text} ${unit.replaceAll('_', ' ')}`;
    }
  }
}

/** Labels Prometheus style, `{cpu="3",mode="user"}`, or `` when there are none. */
export function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${labels[k] ?? ''}"`).join(',')}}`;
}

/** How long until an instant: `in 45 s`, `in 12 min`, `in 3 h 20 min`, `in 2 d 4 h`; `now` once past. */
export function formatIn(ms: number | null | undefined, nowMs: number): string {
  if (!finite(ms)) return MISSING;
  const secs = Math.round((ms - nowMs) / 1000);
  if (secs <= 0) return 'now';
  return `in ${formatDuration(secs)}`;
}

/**
 * An instant in local time: the time alone when it is today (`14:35:38`),
 * else with the date (`25 Nov, 14:35`). `locale` is the browser's unless given.
 */
export function formatWhen(ms: number | null | undefined, nowMs: number, locale?: string): string {
  if (!finite(ms)) return MISSING;
  const date = new Date(ms);
  const now = new Date(nowMs);
  const sameDay =
    date.getFullYear() === now.getFullYear() && date.getMonth() === now.getMonth() && date.getDate() === now.getDate();
  if (sameDay) return date.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const sameYear = date.getFullYear() === now.getFullYear();
  return date.toLocaleString(locale, {
    day: 'numeric',
    month: 'short',
    ...(sameYear ? {} : { year: 'numeric' }),
    hour: '2-digit',
    minute: '2-digit',
  });
}
