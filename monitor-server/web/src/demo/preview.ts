// The rule preview of `?demo=1` (`POST /api/alerts/preview` without a
// backend): the demo generator's history of the rule's metric, in rollups
// of a minute or more, replayed through the same state machine as the
// server's (monitor-core's alert/preview.rs over alert/eval.rs), every
// alert inactive at `from`.
// Value rules only: `increase` and `seconds_until` keep a trend per series
// that the server computes and the demo does not fake; host-offline rules
// cannot be previewed anywhere (they count the time between reports).

import { ApiError, type PreviewRequest } from '../lib/api';
import { OFFLINE_METRIC } from '../lib/rules';
import { seriesKey } from '../lib/snapshot';
import { parseTimestamp } from '../lib/time';
import type { AlertEvent, AlertRule, AlertState, HistoryView, Labels, Point, RulePreview, ServerRulePreview } from '../lib/types';
import { demoEvent } from './alerts';
import { demoHistory, demoServers } from './generator';
import { holds, inScope, matchesLabels, ruleForServer, validateRule } from './rules';

/** The longest range a preview replays, as the server allows. */
export const PREVIEW_MAX_SECS = 31 * 86_400;
/** The range without `from`. */
export const PREVIEW_DEFAULT_SECS = 86_400;
/**
 * Buckets per series the demo replays at most. The server reads a day of
 * 5-s reports raw; the demo reads rollups of at least a minute instead (a
 * raw day of a 16-core machine's CPU series takes seconds to generate), so
 * its previews show how the rule reads rollups.
 */
const DEMO_PREVIEW_BUCKETS = 2000;

/** The rollup step of a demo preview: whole minutes, at most `DEMO_PREVIEW_BUCKETS` buckets. */
export function demoPreviewStep(rangeSecs: number): number {
  return Math.max(60, Math.ceil(rangeSecs / DEMO_PREVIEW_BUCKETS / 60) * 60);
}
/** Events listed per server; the rest are counted. */
export const PREVIEW_EVENTS = 1000;

/** The demo's answer to a rule it cannot replay faithfully. */
export const DEMO_VALUE_RULES_ONLY = 'Preview of this rule needs a server; demo mode previews value rules only.';

/** What one server's replay found. */
export interface ReplayOutcome {
  /** Oldest first, `id` 0. */
  events: AlertEvent[];
  reports: number;
  fired: number;
  firing_at_end: number;
}

interface Tracked {
  labels: Labels;
  state: AlertState;
  /** Unix milliseconds. */
  since: number;
}

/**
 * Replays one server's history of a rule's metric: each report (a raw
 * point, or a rollup bucket at its start with its max for a rule firing
 * above and its min for one firing below; the last value for functions)
 * evaluated in time order as the server's engine does: pending for
 * `for_secs`, firing, resolved at the resolve threshold, a series missing
 * from a report ending its alert. The rule is evaluated as if enabled; a
 * server's override applies.
 */
export function replayHistory(base: AlertRule, serverId: string, history: Pick<HistoryView, 'tier' | 'series'>): ReplayOutcome {
  const rule = ruleForServer({ ...base, enabled: true }, serverId);
  const fn = rule.function ?? { kind: 'value' };
  const upper = rule.op === '>' || rule.op === '>=';
  const pick: (p: Point) => number =
    history.tier === 'raw' || fn.kind !== 'value' ? (p) => p.last : upper ? (p) => p.max : (p) => p.min;

  const reports = new Map<number, { key: string; labels: Labels; value: number }[]>();
  for (const series of history.series) {
    if (series.metric !== rule.metric || !matchesLabels(rule.matchers, series.labels)) continue;
    const key = seriesKey(series.metric, series.labels);
    for (const point of series.points) {
      const at = parseTimestamp(point.t);
      if (!Number.isFinite(at)) continue;
      let samples = reports.get(at);
      if (!samples) {
        samples = [];
        reports.set(at, samples);
      }
      samples.push({ key, labels: series.labels, value: pick(point) });
    }
  }

  const outcome: ReplayOutcome = { events: [], reports: reports.size, fired: 0, firing_at_end: 0 };
  if (!rule.enabled) return outcome;
  const resolve = rule.resolve_threshold ?? rule.threshold;
  const tracked = new Map<string, Tracked>();

  const observe = (key: string, labels: Labels, value: number | null, at: number) => {
    const fires = (threshold: number) => value !== null && holds(rule.op, value, threshold);
    let record = tracked.get(key);
    if (!record) {
      // An alert that never left inactive has no record, and gets one only when its condition holds.
      if (!fires(rule.threshold)) return;
      record = { labels, state: 'inactive', since: at };
      tracked.set(key, record);
    }
    const from = record.state;
    let to: AlertState = from;
    if ((from === 'inactive' || from === 'resolved') && fires(rule.threshold)) to = rule.for_secs === 0 ? 'firing' : 'pending';
    else if (from === 'pending' && !fires(rule.threshold)) to = 'inactive';
    else if (from === 'pending' && at - record.since >= rule.for_secs * 1000) to = 'firing';
    else if (from === 'firing' && !fires(resolve)) to = 'resolved';
    if (to === from) return;
    record.state = to;
    record.since = at;
    if (to === 'firing') outcome.fired += 1;
    outcome.events.push(demoEvent(rule, serverId, labels, from, to, value, at / 1000));
  };

  for (const at of [...reports.keys()].sort((a, b) => a - b)) {
    const samples = reports.get(at) ?? [];
    const seen = new Set<string>();
    for (const s of samples) {
      seen.add(s.key);
      observe(s.key, s.labels, s.value, at);
    }
    // A series the report lacks ends its alert, as live.
    for (const [key, record] of tracked) {
      if (!seen.has(key) && (record.state === 'pending' || record.state === 'firing')) observe(key, record.labels, null, at);
    }
  }
  outcome.firing_at_end = [...tracked.values()].filter((r) => r.state === 'firing').length;
  return outcome;
}

/** An instant of the request in Unix seconds, or a 400 `invalid_time`. */
function instant(name: string, t: PreviewRequest['from'], fallback: number): number {
  if (t === undefined) return fallback;
  const ms = parseTimestamp(t);
  if (!Number.isFinite(ms)) throw new ApiError(400, 'invalid_time', `${name}: give an RFC 3339 time or Unix seconds`);
  return ms / 1000;
}

/**
 * `POST /api/alerts/preview` of the demo at `now` (Unix seconds),
 * with the server's errors: 422 `invalid_rule`, 422 `not_previewable` (a
 * host-offline rule, and here any rule with a function), 400
 * `invalid_time` / `invalid_range`, 404 `not_found`.
 */
export function demoPreview(input: AlertRule, request: PreviewRequest, now: number): RulePreview {
  // An empty id is the server's `preview`; an empty name is refused, as for creating.
  const rule: AlertRule = { ...structuredClone(input), id: input.id === '' ? 'preview' : input.id };
  const problem = validateRule(rule);
  if (problem !== null) throw new ApiError(422, 'invalid_rule', problem);
  if (rule.metric === OFFLINE_METRIC) {
    throw new ApiError(
      422,
      'not_previewable',
      'a host_offline rule counts the time between reports, which stored history does not replay; it cannot be previewed',
    );
  }
  if ((rule.function ?? { kind: 'value' }).kind !== 'value') throw new ApiError(422, 'not_previewable', DEMO_VALUE_RULES_ONLY);
  const to = instant('to', request.to, now);
  const from = instant('from', request.from, to - PREVIEW_DEFAULT_SECS);
  if (from >= to) throw new ApiError(400, 'invalid_range', 'from must be before to');
  if (to - from > PREVIEW_MAX_SECS) throw new ApiError(400, 'invalid_range', 'a preview replays at most 31 days: give a shorter range');

  let servers = demoServers(now);
  if (request.serverId) {
    servers = servers.filter((s) => s.server_id === request.serverId);
    if (servers.length === 0) throw new ApiError(404, 'not_found', `server ${request.serverId} not found`);
  }
  const previews: ServerRulePreview[] = servers
    .filter((s) => inScope(rule.scope, s.server_id, s.tags))
    .map((s) => {
      const history = demoHistory({ serverId: s.server_id, metric: rule.metric, from, to, step: demoPreviewStep(to - from) }, now);
      const outcome = replayHistory(rule, s.server_id, history);
      return {
        server_id: s.server_id,
        tier: history.tier,
        step_secs: history.step_secs,
        reports: outcome.reports,
        fired: outcome.fired,
        firing_at_end: outcome.firing_at_end,
        events: outcome.events.slice(0, PREVIEW_EVENTS),
        events_left_out: Math.max(0, outcome.events.length - PREVIEW_EVENTS),
      };
    });
  return {
    from: new Date(from * 1000).toISOString(),
    to: new Date(to * 1000).toISOString(),
    fired: previews.reduce((sum, s) => sum + s.fired, 0),
    servers: previews,
  };
}
