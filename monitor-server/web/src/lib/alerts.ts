// The original's three thresholds (`GET`/`POST /api/alerts`): the form's
// fields and their checks. What fires is the server's alert engine's word
// (alertFeed.ts, rules.ts).

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

/** True when a server's figure exceeds its threshold (the overview marks it). */
export function overThreshold(value: number | null, limit: number | undefined): boolean {
  return value !== null && limit !== undefined && value > limit;
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
