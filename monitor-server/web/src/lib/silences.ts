// Silences (`/api/alerts/silences`): the duration presets of the form, its
// custom end time, the body sent, and how the list reads.

import { parseOptionalTimestamp } from './time';
import { fromLocalInput } from './timeRange';
import type { NewSilence, Silence } from './types';

export const SILENCE_PRESETS = [
  { id: '1h', label: '1 h', secs: 3600 },
  { id: '4h', label: '4 h', secs: 4 * 3600 },
  { id: '1d', label: '1 d', secs: 86_400 },
] as const;

export type SilencePresetId = (typeof SILENCE_PRESETS)[number]['id'];

/** A preset, or `custom` for the date-time field. */
export type SilenceDuration = SilencePresetId | 'custom';

/** When a silence of preset `id` started at `nowMs` ends, in Unix milliseconds. */
export function presetUntil(id: SilencePresetId, nowMs: number): number {
  const preset = SILENCE_PRESETS.find((p) => p.id === id) ?? SILENCE_PRESETS[0];
  return nowMs + preset.secs * 1000;
}

/** The silence form's fields, as typed. */
export interface SilenceInput {
  /** `` for every rule. */
  ruleId: string;
  /** `` for every server. */
  serverId: string;
  duration: SilenceDuration;
  /** The `<input type="datetime-local">` value, read when `duration` is `custom`. */
  customUntil: string;
  comment: string;
}

export type SilenceField = 'target' | 'customUntil';

/**
 * The body to `POST`, or a message per wrong field: a rule, a server or
 * both (as the server requires), and an end in the future.
 */
export function buildSilence(
  input: SilenceInput,
  nowMs: number,
): { silence: NewSilence; errors: null } | { silence: null; errors: Partial<Record<SilenceField, string>> } {
  const errors: Partial<Record<SilenceField, string>> = {};
  if (input.ruleId === '' && input.serverId === '') {
    errors.target = 'Choose a rule, a server or both: a silence of everything is too easy to forget.';
  }
  let untilMs: number | null;
  if (input.duration === 'custom') {
    const secs = fromLocalInput(input.customUntil);
    untilMs = secs === null ? null : secs * 1000;
    if (untilMs === null) errors.customUntil = 'Enter a date and a time.';
    else if (untilMs <= nowMs) errors.customUntil = 'Enter a time in the future.';
  } else {
    untilMs = presetUntil(input.duration, nowMs);
  }
  if (Object.keys(errors).length > 0 || untilMs === null) return { silence: null, errors };
  const silence: NewSilence = { until: new Date(untilMs).toISOString() };
  if (input.ruleId !== '') silence.rule_id = input.ruleId;
  if (input.serverId !== '') silence.server_id = input.serverId;
  const comment = input.comment.trim();
  if (comment !== '') silence.comment = comment;
  return { silence, errors: null };
}

/** The one-click silence of a firing alert: its rule on its server, for an hour. */
export function quickSilence(alert: { rule_id: string; server_id: string }, nowMs: number, comment = ''): NewSilence {
  const silence: NewSilence = {
    rule_id: alert.rule_id,
    server_id: alert.server_id,
    until: new Date(presetUntil('1h', nowMs)).toISOString(),
  };
  if (comment !== '') silence.comment = comment;
  return silence;
}

/** The silences not over at `nowMs`, ending soonest first. */
export function activeSilences(silences: readonly Silence[], nowMs: number): Silence[] {
  const until = (s: Silence) => parseOptionalTimestamp(s.until) ?? -Infinity;
  return silences.filter((s) => until(s) > nowMs).sort((a, b) => until(a) - until(b) || a.id.localeCompare(b.id));
}

/** What a silence covers, in words: `host offline on Backup`, `every rule on web-01`, `cpu on every server`. */
export function silenceTarget(
  silence: Pick<Silence, 'rule_id' | 'server_id'>,
  ruleName: (id: string) => string,
  serverName: (id: string) => string,
): string {
  const rule = silence.rule_id === undefined ? 'every rule' : ruleName(silence.rule_id);
  const server = silence.server_id === undefined ? 'every server' : serverName(silence.server_id);
  return `${rule} on ${server}`;
}
