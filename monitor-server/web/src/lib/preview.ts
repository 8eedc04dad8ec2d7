// A rule's preview (`POST /api/alerts/preview`) as the rule forms
// show it: a one-line summary, notes on how the history was read, and the
// transitions it would have made, oldest first (the order the server lists
// them in, and cuts them at: what is left out is the latest).

import { transitionText } from './alertFeed';
import { formatDuration, formatWhen } from './format';
import { alertValueText, secondsText } from './rules';
import { parseTimestamp } from './time';
import type { AlertEvent, AlertRule, AlertState, Labels, RulePreview } from './types';

/** The range the forms' button previews (the server's default). */
export const PREVIEW_BUTTON_TEXT = 'Preview on the last 24 h';
/** Transitions listed in the forms; the rest are counted. */
export const PREVIEW_ROWS = 50;

/** A range's length in words: `24 h` up to two days in whole hours, else `7 d`, `90 min`. */
export function spanText(secs: number): string {
  if (secs > 0 && secs <= 2 * 86_400 && secs % 3600 === 0) return `${secs / 3600} h`;
  return formatDuration(secs);
}

/** The range of an answer in words: `in the last 24 h` when it ends now (within two minutes), else its dates. */
export function rangeText(from: number, to: number, nowMs: number): string {
  if (Math.abs(nowMs - to) <= 120_000) return `in the last ${spanText(Math.round((to - from) / 1000))}`;
  return `from ${formatWhen(from, nowMs)} to ${formatWhen(to, nowMs)}`;
}

const plural = (n: number, one: string, many: string) => (n === 1 ? `1 ${one}` : `${n} ${many}`);

/** Names in a line: `Web 01, Web 02 and Backup`, the fifth on as `and 3 more`. */
function namesText(names: readonly string[], max = 4): string {
  if (names.length <= 1) return names.join('');
  if (names.length > max + 1) return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/**
 * The answer in a sentence: `Would have fired 3 times on 2 of 5 servers in
 * the last 24 h; 1 alert still firing.`, `Would not have fired on any of
 * the 5 servers in the last 24 h.`, or why there was nothing to replay.
 * Servers without data in the range are left out of the count (a note
 * names them).
 */
export function previewSummary(preview: RulePreview, serverName: (id: string) => string, nowMs: number): string {
  const range = rangeText(parseTimestamp(preview.from), parseTimestamp(preview.to), nowMs);
  const servers = preview.servers;
  const n = servers.length;
  if (n === 0) return 'No server is in the rule’s scope: there was nothing to replay.';
  const withData = servers.filter((s) => s.reports > 0);
  const m = withData.length;
  const first = withData[0];
  if (first === undefined) {
    return n === 1
      ? `${serverName(servers[0]?.server_id ?? '')} stored no data of this metric ${range}: there was nothing to replay.`
      : `None of the ${n} servers stored data of this metric ${range}: there was nothing to replay.`;
  }
  // The one server with data, named (`Web 01, the only server with data,` when others have none).
  const one = n === 1 ? serverName(first.server_id) : m === 1 ? `${serverName(first.server_id)}, the only server with data,` : null;
  const noun = m === n ? 'servers' : 'servers with data';
  const fired = servers.reduce((sum, s) => sum + s.fired, 0);
  if (fired === 0) return `Would not have fired on ${one ?? `any of the ${m} ${noun}`} ${range}.`;
  const k = servers.filter((s) => s.fired > 0).length;
  const where = one ?? (k === m ? (m === 2 ? `both ${noun}` : `all ${m} ${noun}`) : m === n ? `${k} of ${m} servers` : `${k} of the ${m} ${noun}`);
  const times = fired === 1 ? 'once' : `${fired} times`;
  const still = servers.reduce((sum, s) => sum + s.firing_at_end, 0);
  return `Would have fired ${times} on ${where} ${range}${still > 0 ? `; ${plural(still, 'alert', 'alerts')} still firing` : ''}.`;
}

/** A rollup step in words: `1-minute` and `minute`, `5-minute` and `5-minute bucket`, `1-hour` and `hour`. */
function bucketWords(step: number): { adjective: string; noun: string } {
  const [size, name] = step % 86_400 === 0 ? [86_400, 'day'] : step % 3600 === 0 ? [3600, 'hour'] : step % 60 === 0 ? [60, 'minute'] : [1, 'second'];
  const count = step / size;
  return count === 1 ? { adjective: `1-${name}`, noun: name } : { adjective: `${count}-${name}`, noun: `${count}-${name} bucket` };
}

export interface PreviewNote {
  kind: 'rollup' | 'no-data';
  text: string;
}

/**
 * How the history was read, when it matters: servers answered from
 * rollups (which value of each bucket the rule saw), servers without data.
 */
export function previewNotes(
  preview: RulePreview,
  rule: Pick<AlertRule, 'op' | 'function' | 'for_secs'>,
  serverName: (id: string) => string,
): PreviewNote[] {
  const notes: PreviewNote[] = [];
  const withData = preview.servers.filter((s) => s.reports > 0);
  const steps = new Map<number, string[]>();
  for (const s of withData) {
    if (s.tier === 'raw') continue;
    steps.set(s.step_secs, [...(steps.get(s.step_secs) ?? []), s.server_id]);
  }
  const fn = rule.function?.kind ?? 'value';
  const which = fn !== 'value' ? 'last' : rule.op === '>' || rule.op === '>=' ? 'highest' : 'lowest';
  for (const [step, ids] of [...steps.entries()].sort(([a], [b]) => a - b)) {
    const { adjective, noun } = bucketWords(step);
    const on = ids.length === withData.length ? '' : ` on ${namesText(ids.map(serverName))}`;
    let text = `From ${adjective} rollups${on}: each ${noun}’s ${which} value`;
    text += fn === 'value' ? ', so a short spike still counts.' : '.';
    if (rule.for_secs > 0) text += ` The ${secondsText(rule.for_secs)} it must hold are counted between bucket starts.`;
    notes.push({ kind: 'rollup', text });
  }
  const empty = preview.servers.filter((s) => s.reports === 0);
  if (empty.length > 0 && withData.length > 0) {
    const names = namesText(empty.map((s) => serverName(s.server_id)));
    notes.push({ kind: 'no-data', text: `No data in the range for ${names}: ${empty.length === 1 ? 'it is' : 'they are'} not counted.` });
  }
  return notes;
}

/** An event's value as the events table shows it: `no longer reported` when its series went. */
export function eventValueText(event: Pick<AlertEvent, 'value' | 'state'>, rule: Pick<AlertRule, 'metric' | 'function'>): string {
  const gone = event.value === null || event.value === undefined;
  if (gone && (event.state === 'resolved' || event.state === 'inactive') && rule.function?.kind !== 'seconds_until') {
    return 'no longer reported';
  }
  return alertValueText(event.value, rule);
}

export interface PreviewRow {
  key: string;
  /** Unix milliseconds. */
  at: number;
  serverId: string;
  labels: Labels;
  state: AlertState;
  /** `firing`, `resolved`, `cleared before firing`. */
  change: string;
  value: string;
}

/**
 * The transitions of every server, oldest first (a tie keeps the servers'
 * order), the first `limit` of them; `more` counts the rest, those the
 * server left out included.
 */
export function previewRows(
  preview: RulePreview,
  rule: Pick<AlertRule, 'metric' | 'function'>,
  limit = PREVIEW_ROWS,
): { rows: PreviewRow[]; more: number } {
  const all = preview.servers.flatMap((s) => s.events.map((e, i) => ({ e, i, at: parseTimestamp(e.at) })));
  all.sort((a, b) => a.at - b.at);
  const rows = all.slice(0, limit).map(({ e, i, at }) => ({
    key: `${e.server_id}#${i}`,
    at,
    serverId: e.server_id,
    labels: e.labels,
    state: e.state,
    change: transitionText(e),
    value: eventValueText(e, rule),
  }));
  const total = preview.servers.reduce((sum, s) => sum + s.events.length + s.events_left_out, 0);
  return { rows, more: total - rows.length };
}
