import { describe, expect, it } from 'vitest';

import {
  MIN_ZOOM_SECS,
  PRESETS,
  describeRange,
  fromLocalInput,
  pointsForWidth,
  resolveRange,
  toLocalInput,
  zoomRange,
} from './timeRange';

describe('time ranges', () => {
  it('offers the live windows of the issue', () => {
    expect(PRESETS.map((p) => p.label)).toEqual(['15 min', '1 h', '6 h', '24 h', '7 d', '30 d']);
  });

  it('resolves a live window against now and a fixed range as it is', () => {
    expect(resolveRange({ kind: 'live', preset: '1h' }, 10_000)).toEqual({ from: 6400, to: 10_000, live: true, windowSecs: 3600 });
    expect(resolveRange({ kind: 'fixed', from: 100, to: 400 }, 10_000)).toEqual({ from: 100, to: 400, live: false, windowSecs: 300 });
  });

  it('makes a zoom from a drag in either direction, never narrower than the minimum', () => {
    expect(zoomRange(500, 100)).toEqual({ kind: 'fixed', from: 100, to: 500 });
    expect(zoomRange(100, 102)).toEqual({ kind: 'fixed', from: 101 - MIN_ZOOM_SECS / 2, to: 101 + MIN_ZOOM_SECS / 2 });
  });

  it('asks about one bucket per pixel, within bounds', () => {
    expect(pointsForWidth(812.4)).toBe(812);
    expect(pointsForWidth(10)).toBe(60);
    expect(pointsForWidth(100_000)).toBe(4000);
    expect(pointsForWidth(Number.NaN)).toBe(1000);
  });

  it('round-trips date-time inputs in local time', () => {
    const sec = fromLocalInput('2026-11-25T14:35');
    expect(sec).not.toBeNull();
    expect(toLocalInput(sec as number)).toBe('2026-11-25T14:35');
    expect(fromLocalInput('2026-11-25T14:35:20')).toBe((sec as number) + 20);
    expect(fromLocalInput('')).toBeNull();
    expect(fromLocalInput('25/11/2026')).toBeNull();
  });

  it('describes a range', () => {
    expect(describeRange({ kind: 'live', preset: '7d' })).toBe('last 7 d');
    expect(describeRange({ kind: 'fixed', from: 0, to: 3600 })).toContain('–');
  });
});
