// The overview's list of servers: search, sort, and live updates.

import { summarize } from './snapshot';
import { sortBy, type SortDir, type SortValue } from './sort';
import type { ServerView, Snapshot } from './types';
import { parseOptionalTimestamp } from './time';

export type ServerSortKey = 'name' | 'status' | 'cpu' | 'memory' | 'disk' | 'containers' | 'last_seen';

/** The name to show: the registered name, else the id. */
export function displayName(server: ServerView): string {
  return server.name.trim() === '' ? server.server_id : server.name;
}

/**
 * True when every word of `query` appears, in any case, in the server's
 * name, id, host name, OS or one of its tags.
 */
export function matchesQuery(server: ServerView, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return true;
  const haystack = [server.name, server.server_id, server.hostname ?? '', server.os ?? '', ...server.tags]
    .join('\n')
    .toLowerCase();
  return words.every((w) => haystack.includes(w));
}

export function filterServers(servers: readonly ServerView[], query: string): ServerView[] {
  return servers.filter((s) => matchesQuery(s, query));
}

const SORT_VALUES: Record<ServerSortKey, (s: ServerView) => SortValue> = {
  name: displayName,
  // Offline first when ascending: the servers that need a look.
  status: (s) => (s.online ? 1 : 0),
  cpu: (s) => s.cpu_total_percent,
  memory: (s) => s.memory_used_percent,
  disk: (s) => s.disk_used_percent,
  containers: (s) => s.containers_running,
  last_seen: (s) => parseOptionalTimestamp(s.last_seen),
};

export function sortServers(servers: readonly ServerView[], key: ServerSortKey, dir: SortDir): ServerView[] {
  return sortBy(servers, SORT_VALUES[key], dir, displayName);
}

/**
 * The list with a live snapshot applied to its server (values, last seen,
 * online); a snapshot of an unknown server changes nothing (the next poll
 * brings the new server).
 */
export function applySnapshot(servers: readonly ServerView[], snapshot: Snapshot): ServerView[] {
  const index = servers.findIndex((s) => s.server_id === snapshot.server_id);
  const server = servers[index];
  if (!server) return [...servers];
  const summary = summarize(snapshot);
  const lastSeen = parseOptionalTimestamp(server.last_seen);
  if (lastSeen !== null && summary.timeMs < lastSeen) return [...servers];
  const updated: ServerView = {
    ...server,
    online: true,
    last_seen: snapshot.timestamp,
    interval_secs: snapshot.interval_secs ?? server.interval_secs,
    hostname: snapshot.host?.hostname ?? server.hostname,
    os: snapshot.host?.os ?? server.os,
    cpu_total_percent: summary.cpu,
    memory_used_percent: summary.memory,
    disk_used_percent: summary.disk,
    containers_running: summary.containersRunning ?? server.containers_running,
  };
  const next = [...servers];
  next[index] = updated;
  return next;
}
