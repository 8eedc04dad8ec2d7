import { describe, expect, it } from 'vitest';

import { eventValueText, previewNotes, previewRows, previewSummary, rangeText, spanText } from './preview';
import { defaultRule } from './rules';
import type { AlertEvent, AlertState, RulePreview, ServerRulePreview } from './types';

const TO = Date.parse('2026-12-03T03:00:00Z');
const FROM = TO - 86_400_000;
const NAMES: Record<string, string> = { 'srv-01': 'Web 01', 'srv-02': 'Web 02', 'srv-03': 'Database', 'srv-04': 'Cache', 'srv-05': 'Backup' };
const name = (id: string) => NAMES[id] ?? id;

function event(server_id: string, at: number, state: AlertState, from: AlertState, value: number | null = 95): AlertEvent {
  return {
    id: 0,
    rule_id: 'preview',
    rule_name: 'Full',
    server_id,
    metric: 'filesystem_used_percent',
    labels: { mountpoint: '/' },
    from,
    state,
    value,
    threshold: 90,
    severity: 'warning',
    at: new Date(at).toISOString(),
    message: '',
  };
}

function server(server_id: string, over: Partial<ServerRulePreview> = {}): ServerRulePreview {
  return { server_id, tier: 'raw', step_secs: 5, reports: 17_280, fired: 0, firing_at_end: 0, events: [], events_left_out: 0, ...over };
}

function preview(servers: ServerRulePreview[]): RulePreview {
  return {
    from: new Date(FROM).toISOString(),
    to: new Date(TO).toISOString(),
    fired: servers.reduce((n, s) => n + s.fired, 0),
    servers,
  };
}

const FIVE = ['srv-01', 'srv-02', 'srv-03', 'srv-04', 'srv-05'];

describe('spanText and rangeText', () => {
  it('says hours up to two days, then days', () => {
    expect(spanText(86_400)).toBe('24 h');
    expect(spanText(3600)).toBe('1 h');
    expect(spanText(7 * 86_400)).toBe('7 d');
    expect(spanText(5400)).toBe('1 h 30 min');
  });

  it('says "in the last" for a range that ends now, its dates otherwise', () => {
    expect(rangeText(FROM, TO, TO + 1500)).toBe('in the last 24 h');
    expect(rangeText(FROM, TO, TO + 86_400_000)).toMatch(/^from .+ to .+$/);
  });
});

describe('previewSummary', () => {
  it('counts times, servers and what still fires, singular and plural right', () => {
    const p = preview([
      server('srv-01', { fired: 2, firing_at_end: 1 }),
      server('srv-02', { fired: 1 }),
      ...FIVE.slice(2).map((id) => server(id)),
    ]);
    expect(previewSummary(p, name, TO)).toBe('Would have fired 3 times on 2 of 5 servers in the last 24 h; 1 alert still firing.');
    const once = preview([server('srv-01', { fired: 1 }), server('srv-02')]);
    expect(previewSummary(once, name, TO)).toBe('Would have fired once on 1 of 2 servers in the last 24 h.');
    const both = preview([server('srv-01', { fired: 1, firing_at_end: 1 }), server('srv-02', { fired: 4, firing_at_end: 1 })]);
    expect(previewSummary(both, name, TO)).toBe('Would have fired 5 times on both servers in the last 24 h; 2 alerts still firing.');
    const all = preview(FIVE.slice(0, 3).map((id) => server(id, { fired: 1 })));
    expect(previewSummary(all, name, TO)).toBe('Would have fired 3 times on all 3 servers in the last 24 h.');
  });

  it('counts only the servers with data when some have none (a note names those)', () => {
    const quiet = preview([server('srv-01'), server('srv-02', { reports: 0 }), server('srv-03', { reports: 0 })]);
    expect(previewSummary(quiet, name, TO)).toBe('Would not have fired on Web 01, the only server with data, in the last 24 h.');
    const fired = preview([server('srv-01', { fired: 2 }), server('srv-02', { reports: 0 })]);
    expect(previewSummary(fired, name, TO)).toBe('Would have fired 2 times on Web 01, the only server with data, in the last 24 h.');
    const some = preview([server('srv-01', { fired: 1 }), server('srv-02'), server('srv-03'), server('srv-04', { reports: 0 })]);
    expect(previewSummary(some, name, TO)).toBe('Would have fired once on 1 of the 3 servers with data in the last 24 h.');
    const none = preview([server('srv-01'), server('srv-02'), server('srv-04', { reports: 0 })]);
    expect(previewSummary(none, name, TO)).toBe('Would not have fired on any of the 2 servers with data in the last 24 h.');
    const both = preview([server('srv-01', { fired: 1 }), server('srv-02', { fired: 1 }), server('srv-04', { reports: 0 })]);
    expect(previewSummary(both, name, TO)).toBe('Would have fired 2 times on both servers with data in the last 24 h.');
  });

  it('names a single server', () => {
    expect(previewSummary(preview([server('srv-03', { fired: 1 })]), name, TO)).toBe('Would have fired once on Database in the last 24 h.');
    expect(previewSummary(preview([server('srv-03')]), name, TO)).toBe('Would not have fired on Database in the last 24 h.');
  });

  it('says when it would not have fired, and when there was nothing to replay', () => {
    expect(previewSummary(preview(FIVE.map((id) => server(id))), name, TO)).toBe(
      'Would not have fired on any of the 5 servers in the last 24 h.',
    );
    expect(previewSummary(preview([]), name, TO)).toBe('No server is in the rule’s scope: there was nothing to replay.');
    expect(previewSummary(preview([server('srv-01', { reports: 0 }), server('srv-02', { reports: 0 })]), name, TO)).toBe(
      'None of the 2 servers stored data of this metric in the last 24 h: there was nothing to replay.',
    );
    expect(previewSummary(preview([server('srv-05', { reports: 0 })]), name, TO)).toBe(
      'Backup stored no data of this metric in the last 24 h: there was nothing to replay.',
    );
  });
});

describe('previewNotes', () => {
  const above = defaultRule('', 'Full', 'filesystem_used_percent', '>', 90);

  it('says nothing of raw answers', () => {
    expect(previewNotes(preview([server('srv-01'), server('srv-02')]), above, name)).toEqual([]);
  });

  it('says which value of each rollup bucket the rule saw', () => {
    const minute = preview([server('srv-01', { tier: 'minute', step_secs: 60, reports: 1440 })]);
    expect(previewNotes(minute, above, name)).toEqual([
      { kind: 'rollup', text: 'From 1-minute rollups: each minute’s highest value, so a short spike still counts.' },
    ]);
    const below = { ...above, op: '<=' as const, for_secs: 300 };
    expect(previewNotes(minute, below, name)[0]?.text).toBe(
      'From 1-minute rollups: each minute’s lowest value, so a short spike still counts. The 5 min it must hold are counted between bucket starts.',
    );
    const increase = { ...above, function: { kind: 'increase' as const, window_secs: 900 } };
    expect(previewNotes(minute, increase, name)[0]?.text).toBe('From 1-minute rollups: each minute’s last value.');
  });

  it('names the servers of each step when they differ, and those without data', () => {
    const p = preview([
      server('srv-01', { tier: 'minute', step_secs: 300, reports: 2000 }),
      server('srv-02', { tier: 'hour', step_secs: 3600, reports: 700 }),
      server('srv-03'),
      server('srv-04', { reports: 0 }),
      server('srv-05', { tier: 'hour', step_secs: 3600, reports: 0 }),
    ]);
    expect(previewNotes(p, above, name)).toEqual([
      { kind: 'rollup', text: 'From 5-minute rollups on Web 01: each 5-minute bucket’s highest value, so a short spike still counts.' },
      { kind: 'rollup', text: 'From 1-hour rollups on Web 02: each hour’s highest value, so a short spike still counts.' },
      { kind: 'no-data', text: 'No data in the range for Cache and Backup: they are not counted.' },
    ]);
  });

  it('leaves the lack of data to the summary when no server had any', () => {
    expect(previewNotes(preview([server('srv-01', { reports: 0 })]), above, name)).toEqual([]);
  });
});

describe('previewRows', () => {
  const rule = defaultRule('', 'Full', 'filesystem_used_percent', '>', 90);
  const m = 60_000;

  it('lists every server’s transitions oldest first, in words', () => {
    const p = preview([
      server('srv-01', {
        fired: 1,
        events: [event('srv-01', FROM + 10 * m, 'firing', 'inactive'), event('srv-01', FROM + 30 * m, 'resolved', 'firing', 80)],
      }),
      server('srv-02', {
        events: [event('srv-02', FROM + 5 * m, 'pending', 'inactive'), event('srv-02', FROM + 10 * m, 'inactive', 'pending', 50)],
      }),
    ]);
    const { rows, more } = previewRows(p, rule);
    expect(more).toBe(0);
    expect(rows.map((r) => [r.serverId, (r.at - FROM) / m, r.change, r.value])).toEqual([
      ['srv-02', 5, 'pending', '95.0%'],
      // A tie keeps the servers' order.
      ['srv-01', 10, 'firing', '95.0%'],
      ['srv-02', 10, 'cleared before firing', '50.0%'],
      ['srv-01', 30, 'resolved', '80.0%'],
    ]);
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
  });

  it('cuts at the limit and counts the rest, those the server left out too', () => {
    const events = Array.from({ length: 60 }, (_, i) => event('srv-01', FROM + i * m, i % 2 ? 'resolved' : 'firing', i % 2 ? 'firing' : 'resolved'));
    const p = preview([server('srv-01', { fired: 530, events, events_left_out: 1000 }), server('srv-02', { events: events.slice(0, 5) })]);
    const { rows, more } = previewRows(p, rule);
    expect(rows).toHaveLength(50);
    expect(more).toBe(60 + 5 + 1000 - 50);
    expect(previewRows(p, rule, 10).rows.map((r) => (r.at - FROM) / m)).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
  });
});

describe('eventValueText', () => {
  it('says when the series went, and the value in the rule’s unit otherwise', () => {
    const rule = defaultRule('', 'Full', 'filesystem_used_percent', '>', 90);
    expect(eventValueText({ value: null, state: 'resolved' }, rule)).toBe('no longer reported');
    expect(eventValueText({ value: 91.25, state: 'firing' }, rule)).toBe('91.3%');
    const until = { ...rule, function: { kind: 'seconds_until' as const, target: 100, window_secs: 21_600 } };
    expect(eventValueText({ value: null, state: 'resolved' }, until)).toBe('not heading there');
  });
});
