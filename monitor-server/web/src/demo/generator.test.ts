import { describe, expect, it } from 'vitest';

import {
  DEMO_INTERVAL,
  DEMO_SERVER_IDS,
  demoHistory,
  demoLiveSnapshots,
  demoSeries,
  demoServers,
  demoSnapshot,
  demoTick,
  parseMatchers,
  seedOf,
} from './generator';
import { gapThreshold, historyToLine } from '../lib/lines';
import { snapshotValue } from '../lib/snapshot';
import { parseTimestamp } from '../lib/time';

// 2026-11-25T17:50:00Z: an instant with web-02 up and backup-01 down.
const NOW = 1_795_629_000;

describe('demo generator', () => {
  it('is deterministic', () => {
    expect(demoServers(NOW)).toEqual(demoServers(NOW));
    expect(demoSnapshot('db-01', NOW)).toEqual(demoSnapshot('db-01', NOW));
    const request = { serverId: 'web-01', metric: 'cpu_usage_percent', from: NOW - 3600, to: NOW, points: 120 };
    expect(demoHistory(request, NOW)).toEqual(demoHistory(request, NOW));
    expect(seedOf('web-01/cpu/0')).toBe(seedOf('web-01/cpu/0'));
    expect(seedOf('a')).not.toBe(seedOf('b'));
  });

  it('lists a fleet with one offline server and plausible figures', () => {
    const servers = demoServers(NOW);
    expect(servers.map((s) => s.server_id)).toEqual([...DEMO_SERVER_IDS]);
    expect(servers.filter((s) => !s.online).map((s) => s.server_id)).toEqual(['backup-01']);
    for (const s of servers) {
      for (const v of [s.cpu_total_percent, s.memory_used_percent, s.disk_used_percent]) {
        expect(v).not.toBeNull();
        expect(v as number).toBeGreaterThanOrEqual(0);
        expect(v as number).toBeLessThanOrEqual(100);
      }
    }
    expect(servers.find((s) => s.server_id === 'web-01')?.containers_running).toBe(4);
    expect(servers.find((s) => s.server_id === 'cache-01')?.containers_running).toBeNull();
  });

  it('makes snapshots whose parts agree', () => {
    for (const id of DEMO_SERVER_IDS) {
      for (let t = NOW; t < NOW + 3 * 86_400; t += 7777) {
        const s = demoSnapshot(id, t);
        expect(s).not.toBeNull();
        if (!s) continue;
        const total = snapshotValue(s, 'memory_total_bytes') ?? 0;
        const parts = ['memory_used_bytes', 'memory_cached_bytes', 'memory_buffers_bytes', 'memory_free_bytes'].map(
          (m) => snapshotValue(s, m) ?? Number.NaN,
        );
        expect(Math.abs(parts.reduce((a, b) => a + b, 0) - total)).toBeLessThan(4);
        const cpu = s.metrics.find((f) => f.name === 'cpu_usage_percent');
        for (const sample of cpu?.samples ?? []) {
          expect(sample.value).toBeGreaterThanOrEqual(0);
          expect(sample.value).toBeLessThanOrEqual(100);
        }
        for (const family of s.metrics) {
          for (const sample of family.samples) expect(Number.isFinite(sample.value)).toBe(true);
          expect(new Set(family.samples.map((x) => JSON.stringify(x.labels ?? {}))).size).toBe(family.samples.length);
        }
      }
    }
    expect(demoSnapshot('nope', NOW)).toBeNull();
  });

  it('reports each host\'s top processes: a stable list whose CPU moves, with a kernel thread', () => {
    const bytes = (text: string) => new TextEncoder().encode(text).length;
    for (const id of DEMO_SERVER_IDS) {
      for (let t = NOW; t < NOW + 86_400; t += 7777) {
        const processes = demoSnapshot(id, t)?.processes ?? [];
        expect(processes.length).toBeGreaterThanOrEqual(3);
        expect(processes.length).toBeLessThanOrEqual(20);
        expect(new Set(processes.map((p) => p.pid)).size).toBe(processes.length);
        for (const p of processes) {
          expect(bytes(p.name)).toBeGreaterThan(0);
          expect(bytes(p.name)).toBeLessThanOrEqual(15);
          expect(p.user).not.toBe('');
          expect(bytes(p.command ?? '')).toBeLessThanOrEqual(255);
          expect(p.cpu_percent).toBeGreaterThanOrEqual(0);
          expect(Number.isInteger(p.rss_bytes)).toBe(true);
        }
        expect(processes.find((p) => p.command === undefined)).toMatchObject({ name: 'kworker/0:1', rss_bytes: 0 });
      }
    }
    // Scanned every 10 s: the collection in between reports the same list.
    expect(demoSnapshot('web-01', NOW + 5)?.processes).toEqual(demoSnapshot('web-01', NOW)?.processes);
    const api = (t: number) => demoSnapshot('web-01', t)?.processes?.find((p) => p.pid === 2310);
    expect(api(NOW)).toMatchObject({ name: 'node', user: '1000', command: 'node --max-old-space-size=1536 dist/server.js' });
    expect(api(NOW + 600)?.cpu_percent).not.toBe(api(NOW)?.cpu_percent);
    // The database has more processes than the two top lists keep.
    expect(demoSnapshot('db-01', NOW)?.processes?.length).toBeLessThan(20);
  });

  it('keeps counters increasing between reboots', () => {
    let previous = -1;
    let boot = -1;
    for (let t = NOW; t < NOW + 86_400; t += 60) {
      const s = demoSnapshot('web-01', t);
      const value = s ? snapshotValue(s, 'network_receive_bytes_total', { interface: 'eth0' }) : null;
      const bootTime = s ? snapshotValue(s, 'system_boot_time_seconds') : null;
      expect(value).not.toBeNull();
      if (bootTime === boot) expect(value as number).toBeGreaterThanOrEqual(previous);
      previous = value as number;
      boot = bootTime as number;
    }
  });

  it('gives counters rates near their level', () => {
    const view = demoHistory({ serverId: 'web-01', metric: 'app_requests_total', from: NOW - 7 * 86_400, to: NOW, points: 2000 }, NOW);
    const points = view.series[0]?.points ?? [];
    const rates = historyToLine(points, 'rate', gapThreshold(view.step_secs, DEMO_INTERVAL)).v.filter((v) => v !== null);
    expect(rates.length).toBeGreaterThan(1900);
    // 180 requests per second on average; a weekly reboot resets the counter.
    const mean = rates.reduce((a, b) => a + (b as number), 0) / rates.length;
    expect(mean).toBeGreaterThan(150);
    expect(mean).toBeLessThan(210);
    expect(Math.max(...(rates as number[]))).toBeLessThan(400);
  });

  it('answers the series list of the newest snapshot, with plugin metrics', () => {
    const series = demoSeries('web-01', NOW) ?? [];
    const snapshot = demoSnapshot('web-01', demoTick(NOW));
    const samples = snapshot?.metrics.reduce((n, f) => n + f.samples.length, 0);
    expect(series.length).toBe(samples);
    expect(series.find((s) => s.metric === 'app_requests_total')).toMatchObject({ kind: 'counter', unit: 'count' });
    expect(series.filter((s) => s.metric === 'queue_depth').map((s) => s.labels.queue)).toEqual(['mail', 'webhooks']);
    expect(demoSeries('nope', NOW)).toBeNull();
  });

  it('answers history in buckets, with gaps where a server was down', () => {
    const from = NOW - 86_400;
    const view = demoHistory({ serverId: 'web-02', metric: 'cpu_usage_percent', from, to: NOW, points: 1000 }, NOW);
    expect(view.step_secs).toBe(Math.ceil(86_400 / 1000));
    const total = view.series.find((s) => Object.keys(s.labels).length === 0);
    expect(total).toBeDefined();
    const times = (total?.points ?? []).map((p) => parseTimestamp(p.t) / 1000);
    expect(times.length).toBeLessThanOrEqual(1001);
    // web-02 stops for 15 minutes every 8 hours: three gaps a day.
    const gaps = times.slice(1).filter((t, i) => t - (times[i] as number) > view.step_secs * 1.5);
    expect(gaps.length).toBe(3);
    for (const p of total?.points ?? []) {
      expect(p.min).toBeLessThanOrEqual(p.avg);
      expect(p.avg).toBeLessThanOrEqual(p.max);
    }
  });

  it('answers the three default metrics without metric, and honours matchers', () => {
    const base = { serverId: 'db-01', from: NOW - 600, to: NOW, points: 60 };
    const metrics = new Set(demoHistory(base, NOW).series.map((s) => s.metric));
    expect([...metrics].sort()).toEqual(['cpu_usage_percent', 'filesystem_used_percent', 'memory_used_percent']);
    const root = demoHistory({ ...base, metric: 'filesystem_used_percent', match: 'mountpoint="/"' }, NOW);
    expect(root.series.map((s) => s.labels.mountpoint)).toEqual(['/']);
    const cores = demoHistory({ ...base, metric: 'cpu_usage_percent', match: 'cpu!=""' }, NOW);
    expect(cores.series.length).toBe(8);
    expect(demoHistory({ ...base, metric: 'no_such_metric' }, NOW).series).toEqual([]);
    expect(demoHistory({ ...base, serverId: 'nope' }, NOW).series).toEqual([]);
  });

  it('parses label matchers as the server does', () => {
    expect(parseMatchers('cpu="3", mountpoint!=/boot,bad')).toEqual([
      { name: 'cpu', equal: true, value: '3' },
      { name: 'mountpoint', equal: false, value: '/boot' },
    ]);
    expect(parseMatchers(undefined)).toEqual([]);
  });

  it('sends live snapshots of the servers that are up, on the interval grid', () => {
    const tick = demoTick(NOW + 3);
    expect(tick % DEMO_INTERVAL).toBe(0);
    const live = demoLiveSnapshots(tick);
    expect(live.map((s) => s.server_id)).toEqual(DEMO_SERVER_IDS.filter((id) => id !== 'backup-01'));
    expect(live.every((s) => parseTimestamp(s.timestamp) === tick * 1000)).toBe(true);
    expect(live.every((s) => (s.processes?.length ?? 0) > 0)).toBe(true);
  });

  it('draws 30 days of every chart of a server quickly', () => {
    const started = performance.now();
    const series = demoSeries('build-01', NOW) ?? [];
    for (const metric of new Set(series.map((s) => s.metric))) {
      demoHistory({ serverId: 'build-01', metric, from: NOW - 30 * 86_400, to: NOW, points: 800 }, NOW);
    }
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
