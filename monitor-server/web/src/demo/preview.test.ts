import { describe, expect, it } from 'vitest';

import { defaultRule } from '../lib/rules';
import { parseTimestamp } from '../lib/time';
import type { AlertRule, AlertState, HistoryView, Point, Tier } from '../lib/types';
import { DemoSource } from './source';
import { DEMO_VALUE_RULES_ONLY, demoPreview, demoPreviewStep, replayHistory } from './preview';

// 2026-11-25T17:50:00Z: web-02 up, backup-01 down (as in alerts.test.ts).
const NOW = 1_795_629_000;

function point(secs: number, avg: number, min = avg, max = avg, last = avg): Point {
  return { t: new Date(secs * 1000).toISOString(), avg, min, max, last, count: 12 };
}

function history(tier: Tier, series: [string, Point[]][]): Pick<HistoryView, 'tier' | 'series'> {
  return {
    tier,
    series: series.map(([mountpoint, points]) => ({
      metric: 'filesystem_used_percent',
      labels: { mountpoint },
      kind: 'gauge',
      unit: 'percent',
      points,
    })),
  };
}

const FULL: AlertRule = { ...defaultRule('full', 'Full', 'filesystem_used_percent', '>', 90), for_secs: 60 };

const states = (events: { labels: Record<string, string>; state: AlertState; at: string | number }[]) =>
  events.map((e) => [e.labels.mountpoint ?? '', e.state, parseTimestamp(e.at) / 1000]);

describe('replayHistory', () => {
  it('holds for for_secs, and each series is its own alert (as monitor-core’s preview test)', () => {
    const h = history('raw', [
      // Over for 90 s: fires at 60 s, resolves at 95 s.
      ['/', Array.from({ length: 20 }, (_, i) => point(i * 5, i < 19 ? 95 : 50))],
      // Over for 30 s only: pending, then back to normal.
      ['/data', Array.from({ length: 20 }, (_, i) => point(i * 5, i < 6 ? 95 : 50))],
    ]);
    const out = replayHistory(FULL, 'srv-01', h);
    expect([out.reports, out.fired, out.firing_at_end]).toEqual([20, 1, 0]);
    expect(states(out.events)).toEqual([
      ['/', 'pending', 0],
      ['/data', 'pending', 0],
      ['/data', 'inactive', 30],
      ['/', 'firing', 60],
      ['/', 'resolved', 95],
    ]);
    expect(out.events.every((e) => e.id === 0 && e.server_id === 'srv-01' && e.rule_id === 'full')).toBe(true);
    expect(out.events[3]?.message).toBe('Full: filesystem_used_percent{mountpoint="/"} = 95 > 90 on srv-01');
  });

  it('keeps the spike of a rollup the average hides: max above, min below; raw points as they are', () => {
    const buckets = Array.from({ length: 5 }, (_, i) => point(i * 60, 60, 40, 97, 60));
    const out = replayHistory(FULL, 's', history('minute', [['/', buckets]]));
    expect([out.fired, out.firing_at_end]).toEqual([1, 1]);
    // Pending at the first bucket, firing at the second: for_secs counts from bucket to bucket.
    expect(states(out.events)).toEqual([
      ['/', 'pending', 0],
      ['/', 'firing', 60],
    ]);
    const low = defaultRule('low', 'Low', 'filesystem_used_percent', '<', 45);
    expect(replayHistory(low, 's', history('minute', [['/', buckets]])).fired).toBe(1);
    expect(replayHistory(FULL, 's', history('raw', [['/', buckets]])).fired).toBe(0);
  });

  it('resolves at the resolve threshold, fires again from resolved, and ends an alert whose series goes', () => {
    const rule: AlertRule = { ...defaultRule('q', 'Queue', 'filesystem_used_percent', '>', 100), resolve_threshold: 80 };
    const values = [120, 90, 79, 130, 85];
    const h = history('raw', [
      ['/', values.map((v, i) => point(i * 5, v))],
      // Present in the first two reports only.
      ['/tmp', [point(0, 150), point(5, 150)]],
    ]);
    const out = replayHistory(rule, 's', h);
    expect(states(out.events)).toEqual([
      ['/', 'firing', 0],
      ['/tmp', 'firing', 0],
      ['/', 'resolved', 10],
      ['/tmp', 'resolved', 10],
      ['/', 'firing', 15],
    ]);
    expect(out.events[3]?.value).toBeNull();
    expect(out.events[3]?.message).toBe('Queue: filesystem_used_percent{mountpoint="/tmp"} is no longer reported by s');
    expect(out.events[4]?.from).toBe('resolved');
    expect([out.fired, out.firing_at_end]).toEqual([3, 1]);
  });

  it('evaluates the rule as if enabled, with the server’s override; matchers pick the series', () => {
    const h = history('raw', [
      ['/', [point(0, 95)]],
      ['/boot', [point(0, 99)]],
    ]);
    const off = { ...FULL, for_secs: 0, enabled: false, matchers: [{ name: 'mountpoint', op: '!=' as const, value: '/boot' }] };
    expect(states(replayHistory(off, 's', h).events)).toEqual([['/', 'firing', 0]]);
    const higher = { ...off, overrides: { s: { threshold: 96 } } };
    expect(replayHistory(higher, 's', h).fired).toBe(0);
    expect(replayHistory(higher, 'other', h).fired).toBe(1);
    const disabledThere = { ...off, overrides: { s: { enabled: false } } };
    expect(replayHistory(disabledThere, 's', h)).toMatchObject({ reports: 1, fired: 0, events: [] });
  });

  it('has no report without history', () => {
    expect(replayHistory(FULL, 's', history('raw', []))).toEqual({ events: [], reports: 0, fired: 0, firing_at_end: 0 });
  });
});

describe('demoPreview', () => {
  it('replays the demo history of every server in scope, from minute rollups, the same each time', () => {
    const rule = defaultRule('', 'Memory', 'memory_used_percent', '>', 90);
    const p = demoPreview(rule, {}, NOW);
    expect(p.servers.map((s) => s.server_id)).toEqual(['web-01', 'web-02', 'db-01', 'cache-01', 'build-01', 'backup-01']);
    expect(parseTimestamp(p.to)).toBe(NOW * 1000);
    expect(parseTimestamp(p.from)).toBe((NOW - 86_400) * 1000);
    for (const s of p.servers) {
      expect([s.tier, s.step_secs]).toEqual(['minute', 60]);
      // An empty id is the server's.
      expect(s.events.every((e) => e.rule_id === 'preview' && e.id === 0)).toBe(true);
      expect(s.reports).toBeGreaterThan(0);
      expect(s.fired).toBe(s.events.filter((e) => e.state === 'firing').length);
      const times = s.events.map((e) => parseTimestamp(e.at));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    }
    // db-01 runs at about 92 % memory: it fires there.
    expect(p.servers.find((s) => s.server_id === 'db-01')?.fired).toBeGreaterThan(0);
    expect(p.fired).toBe(p.servers.reduce((n, s) => n + s.fired, 0));
    // backup-01 has been silent for a few hours: fewer reports.
    expect(p.servers.find((s) => s.server_id === 'backup-01')?.reports).toBeLessThan(1440);
    expect(demoPreview(rule, {}, NOW)).toEqual(p);
  });

  it('keeps to the scope or the server asked for, and counts no report where the metric is not reported', () => {
    const rule: AlertRule = {
      ...defaultRule('', 'mail queue deep', 'queue_depth', '>', 100),
      matchers: [{ name: 'queue', op: '=', value: 'mail' }],
      scope: { kind: 'tag', value: 'web' },
    };
    const p = demoPreview(rule, {}, NOW);
    expect(p.servers.map((s) => [s.server_id, s.reports > 0])).toEqual([
      ['web-01', true],
      ['web-02', false],
    ]);
    expect(demoPreview(rule, { serverId: 'web-02' }, NOW).servers.map((s) => s.server_id)).toEqual(['web-02']);
    // A known server out of scope: nothing to replay.
    expect(demoPreview(rule, { serverId: 'db-01' }, NOW).servers).toEqual([]);
  });

  it('reads longer ranges from coarser rollups, at most 2000 buckets', () => {
    expect(demoPreviewStep(86_400)).toBe(60);
    expect(demoPreviewStep(7 * 86_400)).toBe(360);
    expect(demoPreviewStep(31 * 86_400)).toBe(1380);
    const p = demoPreview(defaultRule('', 'x', 'cpu_usage_percent', '>', 95), { serverId: 'cache-01', from: NOW - 7 * 86_400, to: NOW }, NOW);
    expect(p.servers[0]).toMatchObject({ tier: 'minute', step_secs: 360 });
    expect(p.servers[0]?.reports).toBeLessThanOrEqual(2000);
  });

  it('answers with the server’s errors', () => {
    const rule = defaultRule('', 'r', 'cpu_usage_percent', '>', 90);
    const refused = (r: AlertRule, q = {}) => {
      try {
        demoPreview(r, q, NOW);
      } catch (e) {
        return e;
      }
      return null;
    };
    expect(refused({ ...rule, resolve_threshold: 95 })).toMatchObject({ status: 422, code: 'invalid_rule' });
    expect(refused({ ...rule, name: ' ' })).toMatchObject({ status: 422, code: 'invalid_rule', message: 'name: give the rule a name' });
    expect(refused(defaultRule('', 'offline', 'host_offline', '>', 3))).toMatchObject({ status: 422, code: 'not_previewable' });
    expect(refused({ ...rule, function: { kind: 'increase', window_secs: 900 } })).toMatchObject({
      status: 422,
      code: 'not_previewable',
      message: DEMO_VALUE_RULES_ONLY,
    });
    expect(refused(rule, { from: NOW, to: NOW - 60 })).toMatchObject({ status: 400, code: 'invalid_range' });
    expect(refused(rule, { from: NOW - 32 * 86_400, to: NOW })).toMatchObject({ status: 400, code: 'invalid_range' });
    expect(refused(rule, { from: 'yesterday' })).toMatchObject({ status: 400, code: 'invalid_time' });
    expect(refused(rule, { serverId: 'nope' })).toMatchObject({ status: 404, code: 'not_found' });
    // RFC 3339 works as Unix seconds do.
    expect(refused(rule, { from: '2026-11-25T12:00:00Z', to: '2026-11-25T13:00:00Z', serverId: 'web-01' })).toBeNull();
  });

  it('is the demo source’s preview', async () => {
    const source = new DemoSource(() => NOW * 1000);
    const rule = defaultRule('', 'Hot', 'cpu_usage_percent', '>', 80);
    const p = await source.previewRule({ ...rule, matchers: [{ name: 'cpu', op: '=', value: '' }] }, { serverId: 'build-01' });
    expect(p.servers).toHaveLength(1);
    expect(p.servers[0]?.events.every((e) => Object.keys(e.labels).length === 0)).toBe(true);
    await expect(source.previewRule(defaultRule('', 'offline', 'host_offline', '>', 3))).rejects.toMatchObject({ code: 'not_previewable' });
  });
});
