import { describe, expect, it } from 'vitest';

import {
  MISSING,
  formatAgo,
  formatBytes,
  formatDuration,
  formatIn,
  formatLabels,
  formatNumber,
  formatPercent,
  formatRate,
  formatValue,
  formatWhen,
} from './format';

describe('formatBytes', () => {
  it('uses binary units with three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(8 * 1024 ** 3)).toBe('8 GiB');
    expect(formatBytes(123.456 * 1024 ** 2)).toBe('123 MiB');
    expect(formatBytes(12.345 * 1024 ** 4)).toBe('12.3 TiB');
    expect(formatBytes(-2048)).toBe('-2 KiB');
  });

  it('never shows 1024 of a unit', () => {
    expect(formatBytes(1023.9 * 1024)).toBe('1 MiB');
  });

  it('shows missing values as a dash', () => {
    expect(formatBytes(null)).toBe(MISSING);
    expect(formatBytes(undefined)).toBe(MISSING);
    expect(formatBytes(Number.NaN)).toBe(MISSING);
    expect(formatBytes(Number.POSITIVE_INFINITY)).toBe(MISSING);
  });
});

describe('rates, percentages and numbers', () => {
  it('formats rates per second', () => {
    expect(formatRate(3.2 * 1024 ** 2)).toBe('3.2 MiB/s');
    expect(formatRate(null)).toBe(MISSING);
  });

  it('formats percentages with one decimal', () => {
    expect(formatPercent(42.456)).toBe('42.5%');
    expect(formatPercent(100)).toBe('100.0%');
    expect(formatPercent(0)).toBe('0.0%');
    expect(formatPercent(null)).toBe(MISSING);
  });

  it('formats plain numbers with SI prefixes', () => {
    expect(formatNumber(0.4234)).toBe('0.42');
    expect(formatNumber(42)).toBe('42');
    expect(formatNumber(1234)).toBe('1.23k');
    expect(formatNumber(999_999)).toBe('1M');
    expect(formatNumber(-5_500_000)).toBe('-5.5M');
  });
});

describe('durations and ages', () => {
  it('gives the two largest units', () => {
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(12 * 60 + 5)).toBe('12 min');
    expect(formatDuration(3 * 3600 + 20 * 60)).toBe('3 h 20 min');
    expect(formatDuration(5 * 86_400 + 3 * 3600 + 59)).toBe('5 d 3 h');
    expect(formatDuration(2 * 86_400)).toBe('2 d');
  });

  it('says how long ago', () => {
    const now = 1_795_000_000_000;
    expect(formatAgo(now - 2000, now)).toBe('just now');
    expect(formatAgo(now + 60_000, now)).toBe('just now');
    expect(formatAgo(now - 12_000, now)).toBe('12 s ago');
    expect(formatAgo(now - 180_000, now)).toBe('3 min ago');
    expect(formatAgo(now - 2 * 3600_000, now)).toBe('2 h ago');
    expect(formatAgo(now - 4 * 86_400_000, now)).toBe('4 d ago');
    expect(formatAgo(null, now)).toBe('never');
  });
});

describe('formatValue', () => {
  it('formats by unit, plugin units included', () => {
    expect(formatValue(2048, 'bytes')).toBe('2 KiB');
    expect(formatValue(2048, 'bytes_per_second')).toBe('2 KiB/s');
    expect(formatValue(12.34, 'percent')).toBe('12.3%');
    expect(formatValue(90, 'seconds')).toBe('1 min');
    expect(formatValue(3, 'count')).toBe('3');
    expect(formatValue(52.5, 'celsius')).toBe('52.5 °C');
    expect(formatValue(1250, 'rpm')).toBe('1.25k rpm');
    expect(formatValue(0.42, '')).toBe('0.42');
    expect(formatValue(2.5, 'per_second')).toBe('2.5/s');
    expect(formatValue(41.5, 'degrees_celsius')).toBe('41.5 degrees celsius');
    expect(formatValue(null, 'degrees_celsius')).toBe(MISSING);
  });
});

describe('formatLabels', () => {
  it('writes labels Prometheus style, sorted', () => {
    expect(formatLabels({})).toBe('');
    expect(formatLabels({ mode: 'user', cpu: '3' })).toBe('{cpu="3",mode="user"}');
  });
});

describe('formatIn and formatWhen', () => {
  it('says how long until an instant', () => {
    const now = 1_795_000_000_000;
    expect(formatIn(now + 45_000, now)).toBe('in 45 s');
    expect(formatIn(now + 3 * 3_600_000 + 20 * 60_000, now)).toBe('in 3 h 20 min');
    expect(formatIn(now + 86_400_000, now)).toBe('in 1 d');
    expect(formatIn(now - 1000, now)).toBe('now');
    expect(formatIn(null, now)).toBe(MISSING);
  });

  it('gives the time alone today, with the date otherwise', () => {
    const now = new Date(2026, 10, 25, 18, 0, 0).getTime();
    expect(formatWhen(new Date(2026, 10, 25, 14, 35, 38).getTime(), now, 'en-GB')).toBe('14:35:38');
    expect(formatWhen(new Date(2026, 10, 24, 14, 35, 38).getTime(), now, 'en-GB')).toBe('24 Nov, 14:35');
    expect(formatWhen(new Date(2025, 10, 24, 14, 35, 38).getTime(), now, 'en-GB')).toBe('24 Nov 2025, 14:35');
    expect(formatWhen(Number.NaN, now)).toBe(MISSING);
  });
});
