import { describe, expect, it } from 'vitest';

import { diffAlerts, firingAlerts, parseThresholds, thresholdInput } from './alerts';
import { serverView } from './testing/fixtures';
import type { Thresholds } from './types';

const thresholds: Thresholds = { cpu_total_percent: 85, memory_used_percent: 80, disk_used_percent: 90 };

describe('firingAlerts', () => {
  it('fires for values above their threshold and for offline servers', () => {
    const servers = [
      serverView({ server_id: 'b', cpu_total_percent: 85, memory_used_percent: 80.1, disk_used_percent: 95 }),
      serverView({ server_id: 'a', name: 'Alpha', cpu_total_percent: 99 }),
      serverView({ server_id: 'c', online: false, cpu_total_percent: 100 }),
      serverView({ server_id: 'd', cpu_total_percent: 10, memory_used_percent: 10, disk_used_percent: 10 }),
    ];
    const alerts = firingAlerts(servers, thresholds);
    expect(alerts.map((a) => a.key)).toEqual(['a/cpu_total_percent', 'b/disk_used_percent', 'b/memory_used_percent', 'c/offline']);
    expect(alerts[0]).toMatchObject({ serverName: 'Alpha', label: 'CPU', value: 99, threshold: 85 });
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

describe('diffAlerts', () => {
  it('reports what started and what stopped firing', () => {
    const before = firingAlerts([serverView({ server_id: 'a', cpu_total_percent: 90 })], thresholds);
    const after = firingAlerts([serverView({ server_id: 'a', cpu_total_percent: 10, memory_used_percent: 95 })], thresholds);
    const changes = diffAlerts(before, after, 1000);
    expect(changes.map((c) => `${c.change} ${c.alert.key} ${c.atMs}`)).toEqual([
      'firing a/memory_used_percent 1000',
      'resolved a/cpu_total_percent 1000',
    ]);
    expect(diffAlerts(after, after, 2000)).toEqual([]);
  });
});
