import { describe, expect, it } from 'vitest';

import { BYTES_INCREMENTS, buildCharts, chartMetrics, rateUnit, valueRange } from './charts';
import type { Labels, MetricKind, SeriesInfo } from './types';

function info(metric: string, labels: Labels = {}, kind: MetricKind = 'gauge', unit = ''): SeriesInfo {
  return { metric, labels, kind, unit, last_value: 1, last_seen: '2026-11-25T12:00:00.000Z' };
}

const infos: SeriesInfo[] = [
  info('queue_depth', { queue: 'mail' }, 'gauge', 'count'),
  info('queue_depth', { queue: 'b"ulk' }, 'gauge', 'count'),
  info('app_requests_total', {}, 'counter', 'count'),
  info('cpu_usage_percent', { cpu: '10' }, 'gauge', 'percent'),
  info('cpu_usage_percent', {}, 'gauge', 'percent'),
  info('cpu_usage_percent', { cpu: '2' }, 'gauge', 'percent'),
  info('cpu_user_percent', {}, 'gauge', 'percent'),
  // For Prometheus's rate(): the CPU charts already show its shares.
  info('cpu_seconds_total', { mode: 'idle' }, 'counter', 'seconds'),
  info('memory_used_bytes', {}, 'gauge', 'bytes'),
  info('memory_free_bytes', {}, 'gauge', 'bytes'),
  info('memory_total_bytes', {}, 'gauge', 'bytes'),
  info('memory_used_percent', {}, 'gauge', 'percent'),
  info('load_average_1m'),
  info('network_receive_bytes_per_second', { interface: 'eth0' }, 'gauge', 'bytes_per_second'),
  info('network_transmit_bytes_per_second', { interface: 'eth0' }, 'gauge', 'bytes_per_second'),
  info('network_receive_bytes_total', { interface: 'eth0' }, 'counter', 'bytes'),
  info('network_receive_errors_total', { interface: 'eth0' }, 'counter', 'count'),
  info('filesystem_used_percent', { mountpoint: '/var', device: 'b', fstype: 'xfs' }, 'gauge', 'percent'),
  info('filesystem_used_percent', { mountpoint: '/', device: 'a', fstype: 'ext4' }, 'gauge', 'percent'),
  info('filesystem_avail_bytes', { mountpoint: '/', device: 'a', fstype: 'ext4' }, 'gauge', 'bytes'),
  info('container_cpu_percent', { name: 'web' }, 'gauge', 'percent'),
  info('container_memory_usage_bytes', { name: 'web' }, 'gauge', 'bytes'),
  info('container_cpu_percent', { name: 'gone' }, 'gauge', 'percent'),
  info('container_running', { name: 'web' }),
];

describe('buildCharts', () => {
  const charts = buildCharts(infos, ['web']);
  const byId = new Map(charts.map((c) => [c.id, c]));

  it('puts the curated charts first, then filesystems, containers and the other metrics by name', () => {
    expect(charts.map((c) => c.id)).toEqual([
      'cpu',
      'cpu-cores',
      'memory',
      'load',
      'network',
      'fs:/',
      'fs:/var',
      'container:web',
      'metric:app_requests_total',
      'metric:memory_used_percent',
      'metric:network_receive_errors_total',
      'metric:queue_depth',
    ]);
  });

  it('labels curated lines and orders cores by number', () => {
    expect(byId.get('cpu')?.lines.map((l) => l.label)).toEqual(['total', 'user']);
    expect(byId.get('cpu-cores')?.lines.map((l) => l.label)).toEqual(['cpu 2', 'cpu 10']);
    expect(byId.get('memory')?.lines.map((l) => l.label)).toEqual(['used', 'free']);
    expect(byId.get('network')?.lines.map((l) => l.label)).toEqual(['eth0 in', 'eth0 out']);
  });

  it('charts a plugin metric with one line per label set', () => {
    const queue = byId.get('metric:queue_depth');
    expect(queue?.lines.map((l) => l.label)).toEqual(['queue=b"ulk', 'queue=mail']);
    expect(queue?.lines.every((l) => l.unit === 'count' && l.transform === 'value')).toBe(true);
  });

  it('draws counters as per-second rates', () => {
    const requests = byId.get('metric:app_requests_total')?.lines[0];
    expect(requests).toMatchObject({ label: 'app_requests_total', unit: 'per_second', transform: 'rate' });
  });

  it('charts the given containers only, with CPU and memory', () => {
    expect(byId.get('container:web')?.lines.map((l) => [l.label, l.unit])).toEqual([
      ['CPU', 'percent'],
      ['memory', 'bytes'],
    ]);
    expect(byId.has('container:gone')).toBe(false);
  });

  it('lists each metric to fetch once', () => {
    const metrics = chartMetrics(charts);
    expect(new Set(metrics).size).toBe(metrics.length);
    expect(metrics).toContain('queue_depth');
    expect(metrics).not.toContain('memory_total_bytes');
    expect(metrics).not.toContain('network_receive_bytes_total');
  });

  it('draws nothing for nothing', () => {
    expect(buildCharts([], [])).toEqual([]);
  });
});

describe('units and ranges', () => {
  it('names the unit of a rate', () => {
    expect(rateUnit('bytes')).toBe('bytes_per_second');
    expect(rateUnit('count')).toBe('per_second');
    expect(rateUnit('')).toBe('per_second');
    expect(rateUnit('requests')).toBe('requests_per_second');
  });

  it('starts value axes at zero and shows percentages up to 100 at least', () => {
    expect(valueRange('percent', 3, 42)).toEqual([0, 100]);
    expect(valueRange('percent', 3, 420)).toEqual([0, 420]);
    expect(valueRange('bytes', 100, 200)).toEqual([0, 210]);
    const [lo, hi] = valueRange('', -10, -2);
    expect(lo).toBe(-10);
    expect(hi).toBeCloseTo(-1.6);
    expect(valueRange('', 0, 0)).toEqual([0, 1]);
    expect(valueRange('bytes', null, null)).toEqual([0, 1]);
  });

  it('ticks bytes at binary steps', () => {
    expect(BYTES_INCREMENTS).toContain(1024 ** 3);
    expect(BYTES_INCREMENTS).toContain(512 * 1024 ** 2);
    expect(BYTES_INCREMENTS).not.toContain(500 * 1024 ** 2);
  });
});
