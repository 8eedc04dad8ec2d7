// The alert engine of `?demo=1`: the rules in force (thresholds, built-in,
// a couple of stored ones) evaluated over the demo generator's values as
// the server would (pending for `for_secs`, firing, resolved with
// hysteresis, host offline from missed intervals), a history of events, a
// silence and two notifiers. Deterministic for a given start time.

import { alertKey } from '../lib/alertFeed';
import { formatLabels } from '../lib/format';
import { OFFLINE_METRIC } from '../lib/rules';
import type {
  AlertEvent,
  AlertRule,
  AlertState,
  AlertStateRecord,
  DeliveryStatus,
  Labels,
  NewSilence,
  Silence,
  Snapshot,
  Thresholds,
} from '../lib/types';
import { DEMO_INTERVAL, DEMO_SERVER_IDS, DEMO_THRESHOLDS, demoOutages, demoServers, demoSnapshot, demoTick, demoUp } from './generator';
import { effectiveRules, holds, inScope, matchesLabels, ruleForServer, validateRule } from './rules';

/** A stored user rule the demo starts with (not firing: the mail queue stays short). */
export const DEMO_USER_RULE: AlertRule = {
  id: 'mail-queue-deep',
  name: 'mail queue deep',
  metric: 'queue_depth',
  matchers: [{ name: 'queue', op: '=', value: 'mail' }],
  op: '>',
  threshold: 100,
  resolve_threshold: 80,
  for_secs: 60,
  severity: 'critical',
  scope: { kind: 'tag', value: 'web' },
  enabled: true,
};

/** The built-in host-offline rule replaced by a stored one: critical instead of warning. */
export const DEMO_OFFLINE_RULE: AlertRule = {
  id: OFFLINE_METRIC,
  name: 'host offline',
  metric: OFFLINE_METRIC,
  matchers: [],
  op: '>',
  threshold: 3,
  resolve_threshold: null,
  for_secs: 0,
  severity: 'critical',
  scope: { kind: 'all' },
  enabled: true,
};

/** How far back the first evaluation looks for when a condition started, and in what steps. */
const BACK_MAX_SECS = 12 * 3600;
const BACK_STEP_SECS = 600;
/** How far back the history of outages goes. */
const HISTORY_SECS = 86_400;
/** Events kept. */
const MAX_EVENTS = 2000;

interface Observation {
  rule: AlertRule;
  serverId: string;
  labels: Labels;
  value: number | null;
}

interface Active {
  rule_id: string;
  server_id: string;
  labels: Labels;
  state: 'pending' | 'firing';
  /** Unix seconds. */
  since: number;
  value: number | null;
}

const iso = (sec: number) => new Date(sec * 1000).toISOString();

function slug(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return s === '' ? 'rule' : s.slice(0, 40);
}

/** The sentence the server writes for a transition (monitor-core/src/alert/eval.rs). */
/** One transition as the server would report it, unstored (id 0), at `at` in Unix seconds. */
export function demoEvent(
  rule: AlertRule,
  serverId: string,
  labels: Labels,
  from: AlertState,
  to: AlertState,
  value: number | null,
  at: number,
): AlertEvent {
  return {
    id: 0,
    rule_id: rule.id,
    rule_name: rule.name,
    server_id: serverId,
    metric: rule.metric,
    labels,
    from,
    state: to,
    value,
    threshold: rule.threshold,
    severity: rule.severity,
    at: iso(at),
    message: message(rule, serverId, labels, to, value),
  };
}

function message(rule: AlertRule, serverId: string, labels: Labels, to: AlertState, value: number | null): string {
  const series = `${rule.metric}${formatLabels(labels)}`;
  const fn = rule.function ?? { kind: 'value' };
  const subject =
    fn.kind === 'increase'
      ? `increase of ${series} over ${fn.window_secs} s`
      : fn.kind === 'seconds_until'
        ? `seconds until ${series} reaches ${fn.target} (trend over ${fn.window_secs} s)`
        : series;
  if (value === null) return `${rule.name}: ${subject} is no longer reported by ${serverId}`;
  const v = Math.round(value * 100) / 100;
  switch (to) {
    case 'pending':
      return `${rule.name}: ${subject} = ${v} ${rule.op} ${rule.threshold} on ${serverId}, firing if it holds for ${rule.for_secs} s`;
    case 'firing':
      return `${rule.name}: ${subject} = ${v} ${rule.op} ${rule.threshold} on ${serverId}`;
    case 'resolved':
      return `${rule.name}: resolved, ${subject} = ${v} on ${serverId} (resolves past ${rule.resolve_threshold ?? rule.threshold})`;
    case 'inactive':
      return `${rule.name}: ${subject} = ${v} on ${serverId} no longer ${rule.op} ${rule.threshold} before ${rule.for_secs} s`;
  }
}

export class DemoAlerts {
  thresholds: Thresholds = { ...DEMO_THRESHOLDS };
  /** The stored rules (a built-in id replaces the built-in rule). */
  stored: AlertRule[] = [structuredClone(DEMO_OFFLINE_RULE), structuredClone(DEMO_USER_RULE)];
  silences: Silence[];
  private events: AlertEvent[] = [];
  private nextId = 1;
  private active = new Map<string, Active>();
  private evaluatedAt: number | null = null;
  private readonly startedAt: number;
  private snapshots = new Map<string, Snapshot | null>();
  /** The servers' tags (for rule scopes), which the demo never changes. */
  private readonly tags: Map<string, string[]>;

  /** `now`: the current time in Unix seconds. */
  constructor(now: number) {
    this.startedAt = now;
    this.tags = new Map(demoServers(now).map((s) => [s.server_id, s.tags]));
    this.silences = [
      {
        id: 'demo0000silence1',
        server_id: 'backup-01',
        // Until the next full hour but one, so it is always a few hours away.
        until: iso(Math.floor(now / 3600) * 3600 + 3 * 3600),
        comment: 'Disk replacement; the host is back tonight.',
      },
    ];
  }

  rules(): AlertRule[] {
    return effectiveRules(this.thresholds, this.stored);
  }

  /** Evaluates at the tick of `now` (once per tick); the transitions since the last evaluation. */
  advance(now: number): AlertEvent[] {
    const t = demoTick(now);
    if (this.evaluatedAt !== null && t <= this.evaluatedAt) return [];
    const first = this.evaluatedAt === null;
    this.snapshots.clear();
    const events = first ? this.initialize(t) : this.step(t);
    this.evaluatedAt = t;
    return events;
  }

  /** Forgets the alerts of rules no longer in force or disabled, as the server does (no event). */
  forgetRemoved(): void {
    const rules = this.rules();
    for (const [key, a] of this.active) {
      const rule = rules.find((r) => r.id === a.rule_id);
      if (!rule || !ruleForServer(rule, a.server_id).enabled) this.active.delete(key);
    }
  }

  firing(): AlertStateRecord[] {
    return [...this.active.values()]
      .filter((a) => a.state === 'firing')
      .map((a) => ({
        rule_id: a.rule_id,
        server_id: a.server_id,
        labels: a.labels,
        state: 'firing',
        since: iso(a.since),
        last_value: a.value,
        last_notified: iso(a.since),
      }));
  }

  eventList(): AlertEvent[] {
    return this.events;
  }

  notifiers(): DeliveryStatus[] {
    const notifying = this.events.filter((e) => e.state === 'firing' || (e.state === 'resolved' && e.from === 'firing')).length;
    const failedAt = Math.floor(this.startedAt / 3600) * 3600 - 5400;
    return [
      { notifier: 'ops', delivered: 41 + notifying, failed: 0, queued: 0 },
      {
        notifier: 'ntfy-phone',
        delivered: 17 + notifying,
        failed: 2,
        queued: 0,
        last_error: 'HTTP 502 Bad Gateway from ntfy.example.net (after 6 attempts)',
        last_error_at: iso(failedAt),
      },
    ];
  }

  addSilence(silence: NewSilence, now: number): Silence | string {
    if (silence.rule_id === undefined && silence.server_id === undefined) {
      return 'give a rule_id, a server_id or both (a silence of everything is too easy to forget)';
    }
    const until = typeof silence.until === 'number' ? silence.until * 1000 : Date.parse(silence.until);
    if (!Number.isFinite(until)) return 'until: give an RFC 3339 time or Unix seconds';
    if (until <= now * 1000) return 'until: give a time in the future';
    const created: Silence = {
      id: `demo${(this.nextId * 2654435761 + this.silences.length).toString(16).padStart(12, '0')}`,
      until: new Date(until).toISOString(),
      comment: silence.comment ?? '',
    };
    if (silence.rule_id !== undefined) created.rule_id = silence.rule_id;
    if (silence.server_id !== undefined) created.server_id = silence.server_id;
    this.silences.push(created);
    return created;
  }

  /** Stores a new rule; its id from its name when it has none. */
  addRule(rule: AlertRule): AlertRule | { status: number; code: string; message: string } {
    const problem = validateRule(rule);
    if (problem !== null) return { status: 422, code: 'invalid_rule', message: problem };
    const known = this.rules();
    let id = rule.id;
    if (id !== '') {
      if (known.some((r) => r.id === id)) {
        return { status: 409, code: 'rule_exists', message: `a rule with id "${id}" exists; PUT /api/alerts/rules/${id} replaces it` };
      }
    } else {
      const base = slug(rule.name);
      id = base;
      for (let n = 2; known.some((r) => r.id === id); n++) id = `${base}-${n}`;
    }
    const stored = { ...structuredClone(rule), id };
    this.stored.push(stored);
    return stored;
  }

  // ---- evaluation ----

  private snapshot(serverId: string, t: number, now: number): Snapshot | null {
    const key = `${serverId}@${t}`;
    let s = this.snapshots.get(key);
    if (s === undefined) {
      s = demoUp(serverId, t, now) ? demoSnapshot(serverId, t) : null;
      this.snapshots.set(key, s);
    }
    return s;
  }

  /** The newest tick at or before `t` a server reported at. */
  private lastReport(serverId: string, t: number, now: number): number | null {
    let at = demoTick(t);
    for (let i = 0; i < 86_400 / DEMO_INTERVAL; i++, at -= DEMO_INTERVAL) {
      if (demoUp(serverId, at, now)) return at;
    }
    return null;
  }

  /** The values a rule watches on one server at `t`: one per series, null for an infinite prediction. */
  private values(rule: AlertRule, serverId: string, t: number, now: number): { labels: Labels; value: number | null }[] {
    if (rule.metric === OFFLINE_METRIC) {
      const last = this.lastReport(serverId, t, now);
      if (last === null) return [];
      return [{ labels: {}, value: (t - last) / DEMO_INTERVAL }];
    }
    const snap = this.snapshot(serverId, t, now);
    if (!snap) return [];
    const family = snap.metrics.find((f) => f.name === rule.metric);
    if (!family) return [];
    const fn = rule.function ?? { kind: 'value' };
    const out: { labels: Labels; value: number | null }[] = [];
    for (const sample of family.samples) {
      const labels = sample.labels ?? {};
      if (!matchesLabels(rule.matchers, labels)) continue;
      if (fn.kind === 'value') {
        out.push({ labels, value: sample.value });
        continue;
      }
      const before = this.snapshot(serverId, demoTick(t - fn.window_secs), now);
      const old = before?.metrics
        .find((f) => f.name === rule.metric)
        ?.samples.find((s) => formatLabels(s.labels ?? {}) === formatLabels(labels))?.value;
      if (old === undefined) {
        out.push({ labels, value: fn.kind === 'increase' ? 0 : null });
      } else if (fn.kind === 'increase') {
        out.push({ labels, value: sample.value >= old ? sample.value - old : sample.value });
      } else {
        const slope = (sample.value - old) / fn.window_secs;
        const toGo = fn.target - sample.value;
        const secs = toGo <= 0 ? 0 : slope > 0 ? toGo / slope : null;
        out.push({ labels, value: secs });
      }
    }
    return out;
  }

  /** Every watched value at `t`, by alert key; and the servers that reported at `t`. */
  private observe(t: number, now: number): { observed: Map<string, Observation>; reported: Set<string> } {
    const observed = new Map<string, Observation>();
    const reported = new Set(DEMO_SERVER_IDS.filter((id) => demoUp(id, t, now)));
    const tags = this.tags;
    for (const base of this.rules()) {
      for (const serverId of DEMO_SERVER_IDS) {
        const rule = ruleForServer(base, serverId);
        if (!rule.enabled || !inScope(rule.scope, serverId, tags.get(serverId) ?? [])) continue;
        for (const { labels, value } of this.values(rule, serverId, t, now)) {
          observed.set(alertKey({ rule_id: rule.id, server_id: serverId, labels }), { rule, serverId, labels, value });
        }
      }
    }
    return { observed, reported };
  }

  private record(events: AlertEvent[]): AlertEvent[] {
    for (const e of events) e.id = this.nextId++;
    this.events = [...events].reverse().concat(this.events).slice(0, MAX_EVENTS);
    return events;
  }

  /** The first evaluation: what holds now and since when, and the day's outages, as a history. */
  private initialize(t: number): AlertEvent[] {
    const { observed } = this.observe(t, t);
    const history: AlertEvent[] = [];
    for (const [key, o] of observed) {
      const { rule } = o;
      if (o.value === null || !holds(rule.op, o.value, rule.threshold)) continue;
      let start = t;
      if (rule.metric === OFFLINE_METRIC) {
        const last = this.lastReport(o.serverId, t, t) ?? t;
        start = Math.min(t, last + (Math.floor(rule.threshold) + 1) * DEMO_INTERVAL);
      } else {
        for (let back = t - BACK_STEP_SECS; back >= t - BACK_MAX_SECS; back -= BACK_STEP_SECS) {
          const then = this.values(rule, o.serverId, back, t).find((v) => alertKey({ rule_id: rule.id, server_id: o.serverId, labels: v.labels }) === key);
          if (!then || then.value === null || !holds(rule.op, then.value, rule.threshold)) break;
          start = back;
        }
      }
      const firesAt = start + rule.for_secs;
      if (rule.for_secs > 0) history.push(demoEvent(rule, o.serverId, o.labels, 'inactive', 'pending', o.value, start));
      if (firesAt <= t) {
        history.push(demoEvent(rule, o.serverId, o.labels, rule.for_secs > 0 ? 'pending' : 'inactive', 'firing', o.value, firesAt));
        this.active.set(key, { rule_id: rule.id, server_id: o.serverId, labels: o.labels, state: 'firing', since: firesAt, value: o.value });
      } else {
        this.active.set(key, { rule_id: rule.id, server_id: o.serverId, labels: o.labels, state: 'pending', since: start, value: o.value });
      }
    }
    // The outages of the last day that ended: offline, then back.
    const offline = this.rules().find((r) => r.metric === OFFLINE_METRIC);
    if (offline) {
      const tags = this.tags;
      for (const serverId of DEMO_SERVER_IDS) {
        const rule = ruleForServer(offline, serverId);
        if (!rule.enabled || !inScope(rule.scope, serverId, tags.get(serverId) ?? [])) continue;
        for (const outage of demoOutages(serverId, t - HISTORY_SECS, t, t)) {
          if (outage.end === null) continue;
          const last = outage.start - DEMO_INTERVAL;
          const crossing = last + (Math.floor(rule.threshold) + 1) * DEMO_INTERVAL;
          const firesAt = crossing + rule.for_secs;
          if (crossing >= outage.end) continue;
          const missed = (firesAt - last) / DEMO_INTERVAL;
          if (rule.for_secs > 0) history.push(demoEvent(rule, serverId, {}, 'inactive', 'pending', (crossing - last) / DEMO_INTERVAL, crossing));
          if (firesAt < outage.end) {
            history.push(demoEvent(rule, serverId, {}, rule.for_secs > 0 ? 'pending' : 'inactive', 'firing', missed, firesAt));
            history.push(demoEvent(rule, serverId, {}, 'firing', 'resolved', 0, outage.end));
          } else {
            history.push(demoEvent(rule, serverId, {}, 'pending', 'inactive', 0, outage.end));
          }
        }
      }
    }
    history.sort((a, b) => Date.parse(String(a.at)) - Date.parse(String(b.at)));
    return this.record(history);
  }

  /** One evaluation after the first: the state machine of each alert. */
  private step(t: number): AlertEvent[] {
    const { observed, reported } = this.observe(t, t);
    const events: AlertEvent[] = [];
    for (const [key, o] of observed) {
      const { rule } = o;
      const current = this.active.get(key);
      const fires = o.value !== null && holds(rule.op, o.value, rule.threshold);
      if (!current) {
        if (!fires) continue;
        const state = rule.for_secs > 0 ? 'pending' : 'firing';
        this.active.set(key, { rule_id: rule.id, server_id: o.serverId, labels: o.labels, state, since: t, value: o.value });
        events.push(demoEvent(rule, o.serverId, o.labels, 'inactive', state, o.value, t));
        continue;
      }
      current.value = o.value ?? current.value;
      if (current.state === 'pending') {
        if (!fires) {
          this.active.delete(key);
          events.push(demoEvent(rule, o.serverId, o.labels, 'pending', 'inactive', o.value, t));
        } else if (t - current.since >= rule.for_secs) {
          current.state = 'firing';
          current.since = t;
          events.push(demoEvent(rule, o.serverId, o.labels, 'pending', 'firing', o.value, t));
        }
      } else {
        const resolve = rule.resolve_threshold ?? rule.threshold;
        if (o.value === null || !holds(rule.op, o.value, resolve)) {
          this.active.delete(key);
          events.push(demoEvent(rule, o.serverId, o.labels, 'firing', 'resolved', o.value, t));
        }
      }
    }
    // Series no longer reported by a server that reports end their alerts.
    const rules = this.rules();
    for (const [key, a] of this.active) {
      if (observed.has(key)) continue;
      const base = rules.find((r) => r.id === a.rule_id);
      if (!base) {
        this.active.delete(key);
        continue;
      }
      if (!reported.has(a.server_id) || base.metric === OFFLINE_METRIC) continue;
      const rule = ruleForServer(base, a.server_id);
      this.active.delete(key);
      events.push(demoEvent(rule, a.server_id, a.labels, a.state, a.state === 'firing' ? 'resolved' : 'inactive', null, t));
    }
    return this.record(events);
  }
}
