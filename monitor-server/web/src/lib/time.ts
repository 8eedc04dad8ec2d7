import type { Timestamp } from './types';

/**
 * Milliseconds since the Unix epoch of an API timestamp, or NaN when it
 * cannot be read. The server writes RFC 3339 text; a number is read the way
 * the server reads one: Unix seconds, unless it is beyond 10^11 (year 5138),
 * which only milliseconds can be.
 */
export function parseTimestamp(t: Timestamp): number {
  if (typeof t === 'number') {
    return Math.abs(t) > 1e11 ? t : t * 1000;
  }
  return Date.parse(t);
}

/** `parseTimestamp` for nullable fields. */
export function parseOptionalTimestamp(t: Timestamp | null | undefined): number | null {
  if (t === null || t === undefined) return null;
  const ms = parseTimestamp(t);
  return Number.isFinite(ms) ? ms : null;
}
