// Small builders for the tests' API objects.

import type { ServerView, Snapshot } from '../types';

export function serverView(overrides: Partial<ServerView> & { server_id: string }): ServerView {
  return {
    name: '',
    tags: [],
    hostname: null,
    os: null,
    online: true,
    last_seen: '2026-11-25T12:00:00.000Z',
    interval_secs: 5,
    cpu_total_percent: null,
    memory_used_percent: null,
    disk_used_percent: null,
    containers_running: null,
    ...overrides,
  };
}

/** A snapshot of `server_id` at `timestamp` with the given families (`name` → samples). */
export function snapshotOf(
  server_id: string,
  timestamp: string,
  families: Record<string, { labels?: Record<string, string>; value: number }[]>,
  extra: Partial<Snapshot> = {},
): Snapshot {
  return {
    version: 1,
    server_id,
    timestamp,
    interval_secs: 5,
    metrics: Object.entries(families).map(([name, samples]) => ({ name, samples })),
    ...extra,
  };
}
