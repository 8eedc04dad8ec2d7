// Alerts derived in the browser from the original's three thresholds and
// the overview's newest values (`GET /api/alerts` and `GET /api/servers`).
// Alert rules and events served by the backend will come through api.ts.

import { displayName } from './overview';
import type { ServerView, Thresholds } from './types';

export type ThresholdField = keyof Thresholds;

export const THRESHOLD_FIELDS: readonly {
  field: ThresholdField;
  label: string;
  value: (server: ServerView) => number | null;
}[] = [
  { field: 'cpu_total_percent', label: 'CPU', value: (s) => s.cpu_total_percent },
  { field: 'memory_used_percent', label: 'Memory', value: (s) => s.memory_used_percent },
  { field: 'disk_used_percent', label: 'Disk (fullest filesystem)', value: (s) => s.disk_used_percent },
];

export interface FiringAlert {
  /** Stable identity: server and kind. */
  key: string;
  serverId: string;
  serverName: string;
  kind: ThresholdField | 'offline';
  /** What fires, in words. */
  label: string;
  value: number | null;
  threshold: number | null;
}

/**
 * What fires now: each online server's value above its threshold (as the
 * server's thresholds fire, "exceeds"), and each offline server (whose values
 * are stale, so not compared).
 */
export function firingAlerts(servers: readonly ServerView[], thresholds: Thresholds): FiringAlert[] {
  const alerts: FiringAlert[] = [];
  for (const server of servers) {
    const base = { serverId: server.server_id, serverName: displayName(server) };
    if (!server.online) {
      alerts.push({ ...base, key: `${server.server_id}/offline`, kind: 'offline', label: 'Offline', value: null, threshold: null });
      continue;
    }
    for (const { field, label, value } of THRESHOLD_FIELDS) {
      const v = value(server);
      const limit = thresholds[field];
      if (v !== null && v > limit) {
        alerts.push({ ...base, key: `${server.server_id}/${field}`, kind: field, label, value: v, threshold: limit });
      }
    }
  }
  return alerts.sort((a, b) => a.serverName.localeCompare(b.serverName) || a.key.localeCompare(b.key));
}

export type ThresholdInput = Record<ThresholdField, string>;

export function thresholdInput(t: Thresholds): ThresholdInput {
  return {
    cpu_total_percent: String(t.cpu_total_percent),
    memory_used_percent: String(t.memory_used_percent),
    disk_used_percent: String(t.disk_used_percent),
  };
}

/** Reads the form: thresholds when every field is a number from 0 to 100, else a message per bad field. */
export function parseThresholds(
  input: ThresholdInput,
): { thresholds: Thresholds; errors: null } | { thresholds: null; errors: Partial<Record<ThresholdField, string>> } {
  const errors: Partial<Record<ThresholdField, string>> = {};
  const values = {} as Thresholds;
  for (const { field } of THRESHOLD_FIELDS) {
    const text = input[field].trim();
    const value = Number(text);
    if (text === '' || !Number.isFinite(value) || value < 0 || value > 100) {
      errors[field] = 'Enter a percentage from 0 to 100.';
    } else {
      values[field] = value;
    }
  }
  return Object.keys(errors).length === 0 ? { thresholds: values, errors: null } : { thresholds: null, errors };
}

export interface AlertChange {
  alert: FiringAlert;
  change: 'firing' | 'resolved';
  atMs: number;
}

/** What started and stopped firing between two evaluations. */
export function diffAlerts(previous: readonly FiringAlert[], next: readonly FiringAlert[], atMs: number): AlertChange[] {
  const before = new Map(previous.map((a) => [a.key, a]));
  const after = new Map(next.map((a) => [a.key, a]));
  const changes: AlertChange[] = [];
  for (const alert of next) if (!before.has(alert.key)) changes.push({ alert, change: 'firing', atMs });
  for (const alert of previous) if (!after.has(alert.key)) changes.push({ alert, change: 'resolved', atMs });
  return changes;
}
