import { describe, expect, it } from 'vitest';

import { sampleMap, seriesKey, snapshotValue, summarize } from './snapshot';
import { snapshotOf } from './testing/fixtures';
import { parseOptionalTimestamp, parseTimestamp } from './time';

describe('seriesKey', () => {
  it('does not depend on label order and cannot be confused by label text', () => {
    expect(seriesKey('m', { a: '1', b: '2' })).toBe(seriesKey('m', { b: '2', a: '1' }));
    expect(seriesKey('m', {})).toBe('m');
    expect(seriesKey('m', undefined)).toBe('m');
    expect(seriesKey('m', { a: '1",b="2' })).not.toBe(seriesKey('m', { a: '1', b: '2' }));
  });
});

describe('snapshot values', () => {
  const snapshot = snapshotOf('srv', '2026-11-25T12:00:00.000Z', {
    cpu_usage_percent: [{ value: 20 }, { labels: { cpu: '1' }, value: 35 }],
  });

  it('finds a series by its labels, the machine-wide one without', () => {
    expect(snapshotValue(snapshot, 'cpu_usage_percent')).toBe(20);
    expect(snapshotValue(snapshot, 'cpu_usage_percent', { cpu: '1' })).toBe(35);
    expect(snapshotValue(snapshot, 'cpu_usage_percent', { cpu: '2' })).toBeNull();
    expect(snapshotValue(snapshot, 'memory_used_percent')).toBeNull();
    expect(sampleMap(snapshot).get(seriesKey('cpu_usage_percent', { cpu: '1' }))).toBe(35);
  });

  it('summarizes without filesystems or containers as unknown', () => {
    expect(summarize(snapshot)).toEqual({
      timeMs: Date.parse('2026-11-25T12:00:00.000Z'),
      cpu: 20,
      memory: null,
      disk: null,
      containersRunning: null,
    });
  });
});

describe('parseTimestamp', () => {
  it('reads RFC 3339, Unix seconds, and milliseconds by their size', () => {
    expect(parseTimestamp('2026-11-25T14:35:38.123Z')).toBe(Date.UTC(2026, 10, 25, 14, 35, 38, 123));
    expect(parseTimestamp('2026-11-25T16:35:38+02:00')).toBe(Date.UTC(2026, 10, 25, 14, 35, 38));
    expect(parseTimestamp(1_795_000_000)).toBe(1_795_000_000_000);
    expect(parseTimestamp(1_795_000_000.25)).toBe(1_795_000_000_250);
    expect(parseTimestamp(1_795_000_000_000)).toBe(1_795_000_000_000);
    expect(parseTimestamp('soon')).toBeNaN();
    expect(parseOptionalTimestamp(null)).toBeNull();
    expect(parseOptionalTimestamp('soon')).toBeNull();
  });
});
