import { describe, expect, it } from 'vitest';

import { overThreshold, parseThresholds, thresholdInput } from './alerts';
import type { Thresholds } from './types';

const thresholds: Thresholds = { cpu_total_percent: 85, memory_used_percent: 80, disk_used_percent: 90 };

describe('overThreshold', () => {
  it('marks values above (not at) the threshold, never missing ones', () => {
    expect(overThreshold(90.1, 90)).toBe(true);
    expect(overThreshold(90, 90)).toBe(false);
    expect(overThreshold(null, 90)).toBe(false);
    expect(overThreshold(99, undefined)).toBe(false);
  });
});

describe('parseThresholds', () => {
  it('accepts percentages from 0 to 100', () => {
    expect(parseThresholds(thresholdInput(thresholds))).toEqual({ thresholds, errors: null });
    expect(parseThresholds({ cpu_total_percent: ' 0 ', memory_used_percent: '100', disk_used_percent: '55.5' }).thresholds).toEqual({
      cpu_total_percent: 0,
      memory_used_percent: 100,
      disk_used_percent: 55.5,
    });
  });

  it('names each bad field', () => {
    const result = parseThresholds({ cpu_total_percent: '', memory_used_percent: '101', disk_used_percent: 'abc' });
    expect(result.thresholds).toBeNull();
    expect(Object.keys(result.errors ?? {}).sort()).toEqual(['cpu_total_percent', 'disk_used_percent', 'memory_used_percent']);
  });
});
