import { describe, expect, it } from 'vitest';

import { containerRows, filesystemRows, processRows, sortContainers, sortProcesses, updateSeriesInfos } from './tables';
import { snapshotOf } from './testing/fixtures';
import type { ContainerInfo, Labels, ProcessInfo, SeriesInfo } from './types';

function info(metric: string, labels: Labels, value: number | null): SeriesInfo {
  return { metric, labels, kind: 'gauge', unit: '', last_value: value, last_seen: null };
}

const containerInfos: SeriesInfo[] = [
  info('container_running', { name: 'web' }, 1),
  info('container_running', { name: 'db' }, 1),
  info('container_running', { name: 'job' }, 0),
  info('container_running', { name: 'removed' }, null),
  info('container_healthy', { name: 'web' }, 1),
  info('container_healthy', { name: 'db' }, 0),
  info('container_cpu_percent', { name: 'web' }, 12.5),
  info('container_cpu_percent', { name: 'db' }, 80),
  info('container_memory_usage_bytes', { name: 'web' }, 100),
  info('container_memory_usage_bytes', { name: 'db' }, 900),
  info('container_memory_limit_bytes', { name: 'web' }, 1000),
  info('container_network_receive_bytes_total', { name: 'web' }, 5000),
  info('container_network_transmit_bytes_total', { name: 'web' }, 7000),
  info('container_restarts_total', { name: 'db' }, 3),
];

describe('containerRows', () => {
  it('builds rows from the newest values alone, leaving out containers gone from the newest snapshot', () => {
    const rows = containerRows(containerInfos, null);
    expect(rows.map((r) => r.name)).toEqual(['web', 'db', 'job']);
    expect(rows[0]).toMatchObject({
      state: 'running',
      health: 'healthy',
      cpuPercent: 12.5,
      memoryBytes: 100,
      memoryLimitBytes: 1000,
      rxBytes: 5000,
      txBytes: 7000,
      restarts: null,
    });
    expect(rows[1]).toMatchObject({ health: 'unhealthy', restarts: 3 });
    expect(rows[2]).toMatchObject({ state: 'not running', health: null, cpuPercent: null });
  });

  it('prefers the inventory of a live snapshot for names, state, health and restarts', () => {
    const inventory: ContainerInfo[] = [
      { id: '1', name: 'web', image: 'nginx:1.27', state: 'running', status: 'Up 5 minutes (starting)', health: 'starting', restart_count: 1 },
      { id: '2', name: '<img src=x onerror=alert(1)>', image: 'evil', state: 'exited' },
    ];
    const rows = containerRows(containerInfos, inventory);
    expect(rows.map((r) => r.name)).toEqual(['web', '<img src=x onerror=alert(1)>']);
    expect(rows[0]).toMatchObject({ image: 'nginx:1.27', health: 'starting', restarts: 1, cpuPercent: 12.5 });
    expect(rows[1]).toMatchObject({ state: 'exited', health: null, restarts: 0, cpuPercent: null });
  });
});

describe('sortContainers', () => {
  const rows = containerRows(containerInfos, null);
  const names = (key: Parameters<typeof sortContainers>[1], dir: 'asc' | 'desc') =>
    sortContainers(rows, key, dir).map((r) => r.name);

  it('sorts by each column, missing values last', () => {
    expect(names('name', 'asc')).toEqual(['db', 'job', 'web']);
    expect(names('cpu', 'desc')).toEqual(['db', 'web', 'job']);
    expect(names('memory', 'asc')).toEqual(['web', 'db', 'job']);
    expect(names('health', 'asc')).toEqual(['db', 'web', 'job']);
    expect(names('network', 'desc')).toEqual(['web', 'db', 'job']);
    expect(names('restarts', 'desc')).toEqual(['db', 'job', 'web']);
    expect(names('state', 'asc')).toEqual(['job', 'db', 'web']);
  });
});

const processes: ProcessInfo[] = [
  { pid: 812, name: 'postgres', user: 'postgres', cpu_percent: 35.5, rss_bytes: 900e6, command: 'postgres: app app 10.0.0.11(51234) SELECT' },
  { pid: 90, name: 'kworker/0:1', user: 'root', cpu_percent: 2, rss_bytes: 0 },
  { pid: 1207, name: 'nginx', user: 'www-data', cpu_percent: 2, rss_bytes: 14e6, command: 'nginx: worker process' },
  { pid: 1206, name: 'nginx', user: 'www-data', cpu_percent: 2, rss_bytes: 14e6, command: 'nginx: worker process' },
  { pid: 3001, name: 'node', user: '1000', rss_bytes: 600e6, command: 'node dist/server.js' },
  { pid: 1, name: 'systemd', user: 'root', cpu_percent: 0.1, rss_bytes: 12e6, command: '/sbin/init' },
];

describe('processRows', () => {
  it('keeps each process, a kernel thread with no command line and a first scan with no CPU', () => {
    const rows = processRows(processes);
    expect(rows.map((r) => r.pid)).toEqual([812, 90, 1207, 1206, 3001, 1]);
    expect(rows[0]).toEqual({
      pid: 812,
      name: 'postgres',
      command: 'postgres: app app 10.0.0.11(51234) SELECT',
      user: 'postgres',
      cpuPercent: 35.5,
      rssBytes: 900e6,
    });
    expect(rows[1]).toMatchObject({ name: 'kworker/0:1', command: null });
    expect(rows[4]).toMatchObject({ user: '1000', cpuPercent: null });
    expect(processRows([{ pid: 7, name: 'x', command: '' }])).toEqual([
      { pid: 7, name: 'x', command: null, user: null, cpuPercent: null, rssBytes: null },
    ]);
  });
});

describe('sortProcesses', () => {
  const rows = processRows(processes);
  const pids = (key: Parameters<typeof sortProcesses>[1], dir: 'asc' | 'desc') =>
    sortProcesses(rows, key, dir).map((r) => r.pid);

  it('sorts by CPU, ties by memory (largest first) then pid, the first scan last either way', () => {
    expect(pids('cpu', 'desc')).toEqual([812, 1206, 1207, 90, 1, 3001]);
    expect(pids('cpu', 'asc')).toEqual([1, 1206, 1207, 90, 812, 3001]);
  });

  it('sorts by each other column', () => {
    expect(pids('memory', 'desc')).toEqual([812, 3001, 1206, 1207, 1, 90]);
    expect(pids('memory', 'asc')).toEqual([90, 1, 1206, 1207, 3001, 812]);
    expect(pids('pid', 'asc')).toEqual([1, 90, 812, 1206, 1207, 3001]);
    expect(pids('name', 'asc')).toEqual([90, 1206, 1207, 3001, 812, 1]);
    expect(pids('user', 'asc')).toEqual([3001, 812, 1, 90, 1206, 1207]);
  });
});

describe('filesystemRows', () => {
  it('joins the filesystem metrics of each mounted filesystem', () => {
    const root = { device: '/dev/vda1', fstype: 'ext4', mountpoint: '/' };
    const boot = { device: '/dev/vda2', fstype: 'ext4', mountpoint: '/boot' };
    const rows = filesystemRows([
      info('filesystem_used_percent', boot, 20),
      info('filesystem_used_percent', root, 43),
      info('filesystem_used_percent', { ...root, mountpoint: '/mnt/usb' }, null),
      info('filesystem_size_bytes', root, 1000),
      info('filesystem_used_bytes', root, 430),
      info('filesystem_avail_bytes', root, 520),
    ]);
    expect(rows).toEqual([
      { mountpoint: '/', device: '/dev/vda1', fstype: 'ext4', sizeBytes: 1000, usedBytes: 430, availBytes: 520, usedPercent: 43 },
      { mountpoint: '/boot', device: '/dev/vda2', fstype: 'ext4', sizeBytes: null, usedBytes: null, availBytes: null, usedPercent: 20 },
    ]);
  });
});

describe('updateSeriesInfos', () => {
  it('takes the snapshot values and tells about series it does not know', () => {
    const infos = [info('load_average_1m', {}, 0.5), info('queue_depth', { queue: 'mail' }, 3)];
    const snapshot = snapshotOf('srv', '2026-11-25T12:00:00.000Z', { load_average_1m: [{ value: 0.7 }] });
    const update = updateSeriesInfos(infos, snapshot);
    expect(update.infos.map((i) => i.last_value)).toEqual([0.7, null]);
    expect(update.infos[0]?.last_seen).toBe('2026-11-25T12:00:00.000Z');
    expect(update.unknown).toBe(false);
    const more = snapshotOf('srv', '2026-11-25T12:00:05.000Z', { load_average_1m: [{ value: 0.7 }], new_metric: [{ value: 1 }] });
    expect(updateSeriesInfos(infos, more).unknown).toBe(true);
  });
});
