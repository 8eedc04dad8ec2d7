import { describe, expect, it } from 'vitest';

import { applySnapshot, displayName, filterServers, matchesQuery, sortServers } from './overview';
import { serverView, snapshotOf } from './testing/fixtures';

const fleet = [
  serverView({ server_id: 'web-01', name: 'Web 01', tags: ['prod', 'web'], hostname: 'web-01.example.net', cpu_total_percent: 40 }),
  serverView({ server_id: 'db-01', name: 'Database', tags: ['prod', 'db'], os: 'Ubuntu 24.04', cpu_total_percent: 80 }),
  serverView({ server_id: 'new-1', online: false, last_seen: null }),
  serverView({ server_id: 'web-10', name: 'Web 10', tags: ['staging'], cpu_total_percent: 5, online: false }),
];
const ids = (list: { server_id: string }[]) => list.map((s) => s.server_id);

describe('displayName', () => {
  it('falls back to the id', () => {
    expect(displayName(fleet[0]!)).toBe('Web 01');
    expect(displayName(fleet[2]!)).toBe('new-1');
  });
});

describe('search', () => {
  it('matches every word in name, id, host, OS and tags, in any case', () => {
    expect(ids(filterServers(fleet, ''))).toEqual(ids(fleet));
    expect(ids(filterServers(fleet, 'web'))).toEqual(['web-01', 'web-10']);
    expect(ids(filterServers(fleet, 'PROD web'))).toEqual(['web-01']);
    expect(ids(filterServers(fleet, 'ubuntu'))).toEqual(['db-01']);
    expect(ids(filterServers(fleet, 'example.net'))).toEqual(['web-01']);
    expect(ids(filterServers(fleet, 'staging'))).toEqual(['web-10']);
    expect(matchesQuery(fleet[0]!, 'nothing')).toBe(false);
  });

  it('treats the query as text, not a pattern', () => {
    expect(ids(filterServers(fleet, '.*'))).toEqual([]);
  });
});

describe('sortServers', () => {
  it('sorts by name naturally', () => {
    expect(ids(sortServers(fleet, 'name', 'asc'))).toEqual(['db-01', 'new-1', 'web-01', 'web-10']);
    expect(ids(sortServers(fleet, 'name', 'desc'))).toEqual(['web-10', 'web-01', 'new-1', 'db-01']);
  });

  it('sorts by a figure with missing values last, either way', () => {
    expect(ids(sortServers(fleet, 'cpu', 'desc'))).toEqual(['db-01', 'web-01', 'web-10', 'new-1']);
    expect(ids(sortServers(fleet, 'cpu', 'asc'))).toEqual(['web-10', 'web-01', 'db-01', 'new-1']);
  });

  it('puts offline servers first by status, then by name', () => {
    expect(ids(sortServers(fleet, 'status', 'asc'))).toEqual(['new-1', 'web-10', 'db-01', 'web-01']);
  });

  it('sorts by last seen, never-seen last', () => {
    const list = [
      serverView({ server_id: 'a', last_seen: '2026-11-25T12:00:05.000Z' }),
      serverView({ server_id: 'b', last_seen: null }),
      serverView({ server_id: 'c', last_seen: '2026-11-25T11:00:00.000Z' }),
    ];
    expect(ids(sortServers(list, 'last_seen', 'desc'))).toEqual(['a', 'c', 'b']);
  });
});

describe('applySnapshot', () => {
  const snapshot = snapshotOf(
    'web-10',
    '2026-11-25T12:00:10.000Z',
    {
      cpu_usage_percent: [{ value: 12.5 }, { labels: { cpu: '0' }, value: 30 }],
      memory_used_percent: [{ value: 61 }],
      filesystem_used_percent: [
        { labels: { mountpoint: '/' }, value: 43 },
        { labels: { mountpoint: '/data' }, value: 91 },
      ],
    },
    {
      host: { hostname: 'web-10.example.net' },
      containers: [
        { id: '1', name: 'a', image: 'x', state: 'running' },
        { id: '2', name: 'b', image: 'x', state: 'exited' },
      ],
    },
  );

  it('updates the figures of its server as the server computes them', () => {
    const next = applySnapshot(fleet, snapshot);
    const updated = next.find((s) => s.server_id === 'web-10');
    expect(updated).toMatchObject({
      online: true,
      last_seen: '2026-11-25T12:00:10.000Z',
      hostname: 'web-10.example.net',
      cpu_total_percent: 12.5,
      memory_used_percent: 61,
      disk_used_percent: 91,
      containers_running: 1,
    });
    expect(next.filter((s) => s.server_id !== 'web-10')).toEqual(fleet.filter((s) => s.server_id !== 'web-10'));
    expect(fleet[3]!.cpu_total_percent).toBe(5);
  });

  it('ignores unknown servers and snapshots older than what the list has', () => {
    expect(applySnapshot(fleet, { ...snapshot, server_id: 'other' })).toEqual(fleet);
    const old = { ...snapshot, timestamp: '2026-11-25T11:00:00.000Z' };
    expect(applySnapshot(fleet, old)).toEqual(fleet);
  });
});
