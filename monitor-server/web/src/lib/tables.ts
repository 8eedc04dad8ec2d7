// The server page's tables: filesystems and containers, from the series
// list's newest values and, for containers, the inventory of the newest
// live snapshot; processes, from the newest live snapshot's top lists.

import { sampleMap, seriesKey } from './snapshot';
import { sortBy, type SortDir, type SortValue } from './sort';
import type { ContainerHealth, ContainerInfo, Labels, ProcessInfo, SeriesInfo, Snapshot } from './types';

/**
 * The series list with a live snapshot's values: a series the snapshot has
 * gets its value, one it lacks none (as the server answers). `unknown` tells
 * that the snapshot has series the list lacks (a new container, a new plugin
 * metric): time to fetch the list again.
 */
export function updateSeriesInfos(
  infos: readonly SeriesInfo[],
  snapshot: Snapshot,
): { infos: SeriesInfo[]; unknown: boolean } {
  const samples = sampleMap(snapshot);
  const known = new Set<string>();
  const next = infos.map((info) => {
    const key = seriesKey(info.metric, info.labels);
    known.add(key);
    const value = samples.get(key);
    return value === undefined
      ? { ...info, last_value: null }
      : { ...info, last_value: value, last_seen: snapshot.timestamp };
  });
  let unknown = false;
  for (const key of samples.keys()) {
    if (!known.has(key)) {
      unknown = true;
      break;
    }
  }
  return { infos: next, unknown };
}

/** The newest value of every series of the list, by series key. */
function latestValues(infos: readonly SeriesInfo[]): (metric: string, labels: Labels) => number | null {
  const values = new Map<string, number | null>();
  for (const info of infos) values.set(seriesKey(info.metric, info.labels), info.last_value);
  return (metric, labels) => values.get(seriesKey(metric, labels)) ?? null;
}

export interface FilesystemRow {
  mountpoint: string;
  device: string;
  fstype: string;
  sizeBytes: number | null;
  usedBytes: number | null;
  availBytes: number | null;
  usedPercent: number | null;
}

/** One row per filesystem mounted now (with a current `filesystem_used_percent`), by mountpoint. */
export function filesystemRows(infos: readonly SeriesInfo[]): FilesystemRow[] {
  const latest = latestValues(infos);
  return infos
    .filter((i) => i.metric === 'filesystem_used_percent' && i.last_value !== null && i.labels.mountpoint !== undefined)
    .map((i) => ({
      mountpoint: i.labels.mountpoint ?? '',
      device: i.labels.device ?? '',
      fstype: i.labels.fstype ?? '',
      sizeBytes: latest('filesystem_size_bytes', i.labels),
      usedBytes: latest('filesystem_used_bytes', i.labels),
      availBytes: latest('filesystem_avail_bytes', i.labels),
      usedPercent: i.last_value,
    }))
    .sort((a, b) => a.mountpoint.localeCompare(b.mountpoint));
}

export interface ContainerRow {
  name: string;
  image: string | null;
  /** Docker's state word, or `running` / `not running` from the metrics alone. */
  state: string;
  status: string | null;
  health: ContainerHealth | null;
  cpuPercent: number | null;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  rxBytes: number | null;
  txBytes: number | null;
  restarts: number | null;
}

/** `container_healthy`: 1 healthy, 0.5 starting, 0 unhealthy. */
function healthFromValue(v: number | null): ContainerHealth | null {
  if (v === null) return null;
  if (v >= 1) return 'healthy';
  if (v > 0) return 'starting';
  return 'unhealthy';
}

/**
 * One row per container: the inventory's when a live snapshot brought one,
 * else the containers whose `container_running` is current.
 */
export function containerRows(infos: readonly SeriesInfo[], inventory: readonly ContainerInfo[] | null): ContainerRow[] {
  const latest = latestValues(infos);
  const fromMetrics = (name: string): ContainerRow => {
    const l = { name };
    const running = latest('container_running', l);
    return {
      name,
      image: null,
      state: running === null ? 'unknown' : running >= 1 ? 'running' : 'not running',
      status: null,
      health: healthFromValue(latest('container_healthy', l)),
      cpuPercent: latest('container_cpu_percent', l),
      memoryBytes: latest('container_memory_usage_bytes', l),
      memoryLimitBytes: latest('container_memory_limit_bytes', l),
      rxBytes: latest('container_network_receive_bytes_total', l),
      txBytes: latest('container_network_transmit_bytes_total', l),
      restarts: latest('container_restarts_total', l),
    };
  };
  if (inventory) {
    return inventory.map((c) => ({
      ...fromMetrics(c.name),
      image: c.image,
      state: c.state,
      status: c.status ?? null,
      health: c.health ?? null,
      restarts: c.restart_count ?? 0,
    }));
  }
  const names = infos
    .filter((i) => i.metric === 'container_running' && i.last_value !== null && i.labels.name !== undefined)
    .map((i) => i.labels.name ?? '');
  return [...new Set(names)].map(fromMetrics);
}

export type ContainerSortKey = 'name' | 'state' | 'health' | 'cpu' | 'memory' | 'network' | 'restarts';

const HEALTH_ORDER: Record<ContainerHealth, number> = { unhealthy: 0, starting: 1, healthy: 2 };

const CONTAINER_SORT: Record<ContainerSortKey, (r: ContainerRow) => SortValue> = {
  name: (r) => r.name,
  state: (r) => r.state,
  health: (r) => (r.health === null ? null : HEALTH_ORDER[r.health]),
  cpu: (r) => r.cpuPercent,
  memory: (r) => r.memoryBytes,
  network: (r) => (r.rxBytes === null && r.txBytes === null ? null : (r.rxBytes ?? 0) + (r.txBytes ?? 0)),
  restarts: (r) => r.restarts,
};

export function sortContainers(rows: readonly ContainerRow[], key: ContainerSortKey, dir: SortDir): ContainerRow[] {
  return sortBy(rows, CONTAINER_SORT[key], dir, (r) => r.name);
}

export interface ProcessRow {
  pid: number;
  name: string;
  /** The command line; null for a kernel thread, which has none (shown `[name]`, as `ps` does). */
  command: string | null;
  user: string | null;
  /** Null on the agent's first scan, which has nothing to compare with. */
  cpuPercent: number | null;
  rssBytes: number | null;
}

/** One row per process of a snapshot's top lists. */
export function processRows(processes: readonly ProcessInfo[]): ProcessRow[] {
  return processes.map((p) => ({
    pid: p.pid,
    name: p.name,
    command: p.command || null,
    user: p.user || null,
    cpuPercent: p.cpu_percent ?? null,
    rssBytes: p.rss_bytes ?? null,
  }));
}

export type ProcessSortKey = 'name' | 'pid' | 'user' | 'cpu' | 'memory';

const PROCESS_SORT: Record<ProcessSortKey, (r: ProcessRow) => SortValue> = {
  name: (r) => r.name,
  pid: (r) => r.pid,
  user: (r) => r.user,
  cpu: (r) => r.cpuPercent,
  memory: (r) => r.rssBytes,
};

/** Sorted by `key`; ties by memory, largest first, then by pid. */
export function sortProcesses(rows: readonly ProcessRow[], key: ProcessSortKey, dir: SortDir): ProcessRow[] {
  // sortBy keeps the input order of ties: sort by the tiebreaks first.
  const byMemory = sortBy(rows, PROCESS_SORT.memory, 'desc', (r) => String(r.pid));
  return sortBy(byMemory, PROCESS_SORT[key], dir);
}
