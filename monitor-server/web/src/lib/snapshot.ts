// Reading values out of snapshots (the stream's events), by series.

import { parseTimestamp } from './time';
import type { Labels, Snapshot } from './types';

/** An unambiguous key of one series: its metric and its sorted labels. */
export function seriesKey(metric: string, labels: Labels | undefined): string {
  const pairs = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.length === 0 ? metric : `${metric}${JSON.stringify(pairs)}`;
}

/** Every sample of a snapshot by series key. */
export function sampleMap(snapshot: Snapshot): Map<string, number> {
  const map = new Map<string, number>();
  for (const family of snapshot.metrics) {
    for (const sample of family.samples) {
      map.set(seriesKey(family.name, sample.labels), sample.value);
    }
  }
  return map;
}

/** The value of `metric{labels}` (no labels: the machine-wide series), or null. */
export function snapshotValue(snapshot: Snapshot, metric: string, labels: Labels = {}): number | null {
  const family = snapshot.metrics.find((f) => f.name === metric);
  if (!family) return null;
  const key = seriesKey(metric, labels);
  const sample = family.samples.find((s) => seriesKey(metric, s.labels) === key);
  return sample ? sample.value : null;
}

/** The overview's figures of a snapshot, computed as `GET /api/servers` does. */
export interface Summary {
  timeMs: number;
  cpu: number | null;
  memory: number | null;
  /** The fullest filesystem. */
  disk: number | null;
  containersRunning: number | null;
}

export function summarize(snapshot: Snapshot): Summary {
  const filesystems = snapshot.metrics.find((f) => f.name === 'filesystem_used_percent');
  const disk = filesystems && filesystems.samples.length > 0
    ? Math.max(...filesystems.samples.map((s) => s.value))
    : null;
  return {
    timeMs: parseTimestamp(snapshot.timestamp),
    cpu: snapshotValue(snapshot, 'cpu_usage_percent'),
    memory: snapshotValue(snapshot, 'memory_used_percent'),
    disk,
    containersRunning: snapshot.containers
      ? snapshot.containers.filter((c) => c.state === 'running').length
      : null,
  };
}
