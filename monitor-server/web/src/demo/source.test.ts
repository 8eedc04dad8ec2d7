import { describe, expect, it } from 'vitest';

import { FULL_ACCESS, learnAccess } from '../lib/access';
import { demoServers } from './generator';
import { createDemoSource } from './index';
import { DemoSource } from './source';

// 2026-11-25T17:50:00Z: an instant with web-02 up and backup-01 down.
const NOW = 1_795_629_000;

describe('DemoSource', () => {
  it('serves the generator at its clock and keeps thresholds in memory', async () => {
    const source = new DemoSource(() => NOW * 1000);
    expect(await source.servers()).toEqual(demoServers(NOW));
    await expect(source.series('nope')).rejects.toMatchObject({ status: 404 });
    const saved = await source.setThresholds({ cpu_total_percent: 50, memory_used_percent: 60, disk_used_percent: 70 });
    expect(await source.thresholds()).toEqual(saved);
    await expect(source.setThresholds({ cpu_total_percent: 150, memory_used_percent: 60, disk_used_percent: 70 })).rejects.toMatchObject({
      status: 422,
    });
    expect(await source.thresholds()).toEqual(saved);
  });
});

describe('demo mode access', () => {
  it('allows everything in demo mode, with no request', async () => {
    const source = createDemoSource();
    expect(source.demo).toBe(true);
    await expect(learnAccess(() => source.access())).resolves.toEqual({ access: FULL_ACCESS, askAgain: false });
  });
});
