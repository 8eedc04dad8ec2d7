import { describe, expect, it } from 'vitest';

import {
  alertKey,
  applyAlertEvent,
  eventDetail,
  eventMatches,
  firingCounts,
  isAlertEvent,
  mergeEvents,
  olderCursor,
  reconcileFiring,
  silenceFor,
  sortFiring,
  transitionText,
  withLiveEvent,
  withNewestPage,
  withOlderPage,
  type EventFeed,
} from './alertFeed';
import { defaultRule } from './rules';
import type { AlertEvent, AlertRule, AlertStateRecord, Silence } from './types';

function event(overrides: Partial<AlertEvent> & { id: number }): AlertEvent {
  return {
    rule_id: 'disk_used_percent',
    rule_name: 'disk_used_percent',
    server_id: 'web-1',
    metric: 'filesystem_used_percent',
    labels: { mountpoint: '/' },
    from: 'inactive',
    state: 'firing',
    value: 95,
    threshold: 90,
    severity: 'warning',
    at: '2026-11-25T12:00:00.000Z',
    message: '',
    ...overrides,
  };
}

function firing(overrides: Partial<AlertStateRecord> = {}): AlertStateRecord {
  return {
    rule_id: 'disk_used_percent',
    server_id: 'web-1',
    labels: { mountpoint: '/' },
    state: 'firing',
    since: '2026-11-25T12:00:00.000Z',
    last_value: 95,
    last_notified: '2026-11-25T12:00:00.000Z',
    ...overrides,
  };
}

describe('alertKey', () => {
  it('is one per rule, server and labels, whatever the labels order', () => {
    expect(alertKey({ rule_id: 'r', server_id: 's', labels: { a: '1', b: '2' } })).toBe(
      alertKey({ rule_id: 'r', server_id: 's', labels: { b: '2', a: '1' } }),
    );
    expect(alertKey({ rule_id: 'r', server_id: 's', labels: { a: '1' } })).not.toBe(alertKey({ rule_id: 'r', server_id: 's', labels: { a: '2' } }));
    // No confusion from separators inside values.
    expect(alertKey({ rule_id: 'r', server_id: 's', labels: { a: '1","b' } })).not.toBe(
      alertKey({ rule_id: 'r', server_id: 's', labels: { a: '1', b: '' } }),
    );
  });
});

describe('applyAlertEvent', () => {
  it('adds an alert that starts firing', () => {
    const list = applyAlertEvent([], event({ id: 1, value: 96.5 }));
    expect(list).toEqual([firing({ last_value: 96.5, last_notified: null })]);
  });

  it('removes an alert that resolves, or whose series ends, and leaves the others', () => {
    const other = firing({ labels: { mountpoint: '/var' } });
    const list = [firing(), other];
    expect(applyAlertEvent(list, event({ id: 2, from: 'firing', state: 'resolved', at: '2026-11-25T12:05:00Z' }))).toEqual([other]);
    expect(applyAlertEvent(list, event({ id: 3, from: 'firing', state: 'inactive', value: null, at: '2026-11-25T12:05:00Z' }))).toEqual([other]);
    // A pending alert is not firing: nothing to add.
    expect(applyAlertEvent([], event({ id: 4, state: 'pending' }))).toEqual([]);
  });

  it('updates an alert that fires again after resolving', () => {
    const list = applyAlertEvent([firing()], event({ id: 5, at: '2026-11-25T13:00:00Z', value: 99 }));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ since: '2026-11-25T13:00:00Z', last_value: 99, last_notified: '2026-11-25T12:00:00.000Z' });
  });

  it('ignores an event older than what the list knows (a replay, or a fresher read)', () => {
    const list = [firing({ since: '2026-11-25T12:10:00Z' })];
    expect(applyAlertEvent(list, event({ id: 6, from: 'firing', state: 'resolved', at: '2026-11-25T12:05:00Z' }))).toBe(list);
    expect(applyAlertEvent(list, event({ id: 7, at: '2026-11-25T12:00:00Z' }))).toBe(list);
    // The same transition twice changes nothing.
    expect(applyAlertEvent(list, event({ id: 8, at: '2026-11-25T12:10:00Z' }))).toBe(list);
  });
});

describe('reconcileFiring', () => {
  it('applies the live events received while the read was on its way', () => {
    const fetched = [firing(), firing({ server_id: 'web-2' })];
    const live = [
      // Newer than the read: resolved since.
      event({ id: 10, server_id: 'web-2', from: 'firing', state: 'resolved', at: '2026-11-25T12:30:00Z' }),
      // Already in the read: changes nothing.
      event({ id: 9, at: '2026-11-25T12:00:00.000Z' }),
      event({ id: 11, server_id: 'db-1', at: '2026-11-25T12:31:00Z' }),
    ];
    expect(reconcileFiring(fetched, live).map((a) => a.server_id)).toEqual(['web-1', 'db-1']);
  });

  it('applies events in time order, whatever order they came in', () => {
    const live = [
      event({ id: 13, from: 'firing', state: 'resolved', at: '2026-11-25T12:02:00Z' }),
      event({ id: 12, at: '2026-11-25T12:01:00Z' }),
    ];
    expect(reconcileFiring([], live)).toEqual([]);
  });

  it('keeps each firing alert once', () => {
    expect(reconcileFiring([firing(), firing(), firing({ state: 'pending', server_id: 'x' })], [])).toEqual([firing()]);
  });
});

describe('mergeEvents', () => {
  it('keeps each event once, newest first, at most the limit', () => {
    const a = event({ id: 1, at: '2026-11-25T12:00:00Z' });
    const b = event({ id: 2, at: '2026-11-25T12:01:00Z', state: 'resolved', from: 'firing' });
    const c = event({ id: 3, at: '2026-11-25T12:01:00Z' });
    const merged = mergeEvents([b, a], [c, b], 10);
    expect(merged.map((e) => e.id)).toEqual([3, 2, 1]);
    expect(mergeEvents(merged, [event({ id: 4, at: '2026-11-25T12:02:00Z' })], 2).map((e) => e.id)).toEqual([4, 3]);
    expect(mergeEvents([a], [], 0)).toEqual([]);
  });

  it('keeps unstored events (id 0) apart by what they say', () => {
    const x = event({ id: 0, at: '2026-11-25T12:00:00Z' });
    const y = event({ id: 0, at: '2026-11-25T12:00:00Z', state: 'resolved', from: 'firing' });
    expect(mergeEvents([x], [x, y], 10)).toHaveLength(2);
  });

  it('keeps them all without a limit', () => {
    const a = event({ id: 1, at: '2026-11-25T12:00:00Z' });
    const b = event({ id: 2, at: '2026-11-25T12:01:00Z' });
    expect(mergeEvents([a], [b]).map((e) => e.id)).toEqual([2, 1]);
  });

  it('filters live events as the API filters the list', () => {
    const e = event({ id: 1 });
    expect(eventMatches(e, {})).toBe(true);
    expect(eventMatches(e, { serverId: 'web-1', ruleId: 'disk_used_percent' })).toBe(true);
    expect(eventMatches(e, { serverId: 'web-2' })).toBe(false);
    expect(eventMatches(e, { ruleId: 'host_offline' })).toBe(false);
  });
});

describe('sortFiring and firingCounts', () => {
  const rules = new Map<string, AlertRule>([
    ['host_offline', { ...defaultRule('host_offline', 'host offline', 'host_offline', '>', 3), severity: 'critical' }],
    ['info', { ...defaultRule('info', 'info', 'm', '>', 3), severity: 'info' }],
  ]);
  it('puts the most severe first, then the newest', () => {
    const list = [
      firing({ server_id: 'a', since: '2026-11-25T12:00:00Z' }),
      firing({ rule_id: 'info', server_id: 'b' }),
      firing({ rule_id: 'host_offline', server_id: 'c', labels: {} }),
      firing({ server_id: 'd', since: '2026-11-25T13:00:00Z' }),
    ];
    expect(sortFiring(list, (id) => rules.get(id)).map((a) => a.server_id)).toEqual(['c', 'd', 'a', 'b']);
    expect(firingCounts([...list, firing({ server_id: 'a', labels: {} })])).toEqual(
      new Map([
        ['a', 2],
        ['b', 1],
        ['c', 1],
        ['d', 1],
      ]),
    );
  });
});

describe('silenceFor', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');
  const silences: Silence[] = [
    { id: 'server', server_id: 'web-1', until: '2026-11-25T13:00:00Z', comment: '' },
    { id: 'rule', rule_id: 'disk_used_percent', until: '2026-11-25T15:00:00Z', comment: '' },
    { id: 'over', server_id: 'db-1', until: '2026-11-25T11:00:00Z', comment: '' },
    { id: 'both', rule_id: 'host_offline', server_id: 'db-1', until: '2026-11-25T14:00:00Z', comment: '' },
  ];
  it('finds the silence that ends last among those covering an alert', () => {
    expect(silenceFor(silences, { rule_id: 'disk_used_percent', server_id: 'web-1' }, now)?.id).toBe('rule');
    expect(silenceFor(silences, { rule_id: 'cpu_total_percent', server_id: 'web-1' }, now)?.id).toBe('server');
    expect(silenceFor(silences, { rule_id: 'cpu_total_percent', server_id: 'db-1' }, now)).toBeUndefined();
    expect(silenceFor(silences, { rule_id: 'host_offline', server_id: 'db-1' }, now)?.id).toBe('both');
    expect(silenceFor(silences, { rule_id: 'host_offline', server_id: 'web-2' }, now)).toBeUndefined();
  });
});

describe('transitionText and isAlertEvent', () => {
  it('words a transition', () => {
    expect(transitionText({ from: 'inactive', state: 'firing' })).toBe('firing');
    expect(transitionText({ from: 'firing', state: 'resolved' })).toBe('resolved');
    expect(transitionText({ from: 'pending', state: 'inactive' })).toBe('cleared before firing');
  });

  it('drops the rule name the server’s sentence starts with', () => {
    expect(eventDetail({ rule_name: 'host offline', message: 'host offline: host_offline = 4 > 3 on web-2' })).toBe('host_offline = 4 > 3 on web-2');
    expect(eventDetail({ rule_name: 'x', message: 'something else' })).toBe('something else');
    expect(eventDetail({ rule_name: '', message: ': odd' })).toBe(': odd');
  });

  it('checks the shape of stream data', () => {
    expect(isAlertEvent(event({ id: 1 }))).toBe(true);
    expect(isAlertEvent({ ...event({ id: 1 }), state: 'weird' })).toBe(false);
    expect(isAlertEvent({ ...event({ id: 1 }), labels: null })).toBe(false);
    expect(isAlertEvent(null)).toBe(false);
    expect(isAlertEvent([])).toBe(false);
  });
});

/** The event of that id, at 12:<id>: the highest id the newest. */
const at = (id: number): AlertEvent => event({ id, at: new Date(Date.UTC(2026, 10, 25, 12, id)).toISOString() });
/** Events with ids `from` down to `to`, newest first. */
function run(from: number, to: number): AlertEvent[] {
  const list: AlertEvent[] = [];
  for (let id = from; id >= to; id--) list.push(at(id));
  return list;
}
const ids = (feed: EventFeed) => feed.events.map((e) => e.id);

describe('olderCursor', () => {
  it('is the id of the oldest stored event, past unstored ones (id 0)', () => {
    const stored = run(5, 3);
    const unstored = event({ id: 0, at: '2026-11-25T11:00:00Z' });
    expect(olderCursor(stored)).toBe(3);
    expect(olderCursor([...stored, unstored])).toBe(3);
    expect(olderCursor([unstored])).toBeNull();
    expect(olderCursor([])).toBeNull();
  });
});

describe('the events feed', () => {
  it('starts from the newest page; a page shorter than asked is the end', () => {
    expect(withNewestPage(null, run(10, 7), 4)).toEqual({ events: run(10, 7), end: false });
    expect(withNewestPage(null, run(3, 1), 4)).toEqual({ events: run(3, 1), end: true });
    expect(withNewestPage(null, [], 4)).toEqual({ events: [], end: true });
  });

  it('appends the older pages, each event once, until one comes back short', () => {
    let feed = withNewestPage(null, run(10, 7), 4);
    feed = withOlderPage(feed, 7, run(6, 3), 4);
    expect(ids(feed)).toEqual([10, 9, 8, 7, 6, 5, 4, 3]);
    expect(feed.end).toBe(false);
    // An event listed twice (it moved across the page boundary) is kept once.
    feed = withOlderPage(feed, 3, run(3, 1), 4);
    expect(ids(feed)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(feed.end).toBe(true);
  });

  it('drops an older page asked for before the list changed under it', () => {
    const feed = withNewestPage(null, run(10, 7), 4);
    expect(withOlderPage(feed, 9, run(8, 5), 4)).toBe(feed);
  });

  it('grows by live events, dropping nothing', () => {
    let feed = withNewestPage(null, run(10, 7), 4);
    feed = withLiveEvent(feed, at(11));
    feed = withLiveEvent(feed, at(11));
    expect(ids(feed)).toEqual([11, 10, 9, 8, 7]);
    expect(feed.end).toBe(false);
    expect(withLiveEvent({ events: run(2, 1), end: true }, at(3))).toEqual({ events: run(3, 1), end: true });
  });

  it('keeps at most its bound of live events; the oldest can be read again', () => {
    const full = withLiveEvent({ events: run(3, 1), end: true }, at(4), 3);
    expect(ids(full)).toEqual([4, 3, 2]);
    expect(full.end).toBe(false);
    expect(olderCursor(full.events)).toBe(2);
  });

  it('merges the newest page read again without dropping the older pages or the live events', () => {
    // Two pages read, then live events 21 and 22; the newest page read again holds 21 (22 came after it was answered).
    let feed = withNewestPage(null, run(20, 17), 4);
    feed = withOlderPage(feed, 17, run(16, 13), 4);
    feed = withLiveEvent(feed, at(21));
    feed = withLiveEvent(feed, at(22));
    const again = withNewestPage(feed, run(21, 18), 4);
    expect(ids(again)).toEqual([22, 21, 20, 19, 18, 17, 16, 15, 14, 13]);
    expect(again.end).toBe(false);
    // The same when the end was reached: still the end.
    expect(withNewestPage({ ...feed, end: true }, run(21, 18), 4).end).toBe(true);
  });

  it('keeps the length when the page brings events the list missed: its oldest go, to be read again', () => {
    // 21 and 22 were missed (no live event); the list keeps its 8 events.
    let feed = withNewestPage(null, run(20, 17), 4);
    feed = withOlderPage(feed, 17, run(16, 13), 4);
    const again = withNewestPage({ ...feed, end: true }, run(22, 19), 4);
    expect(ids(again)).toEqual([22, 21, 20, 19, 18, 17, 16, 15]);
    // 14 and 13 can no longer be seen: not the end any more.
    expect(again.end).toBe(false);
    expect(olderCursor(again.events)).toBe(15);
  });

  it('starts again from a full newest page that shares nothing with the list (there may be a gap)', () => {
    let feed = withNewestPage(null, run(20, 17), 4);
    feed = withOlderPage(feed, 17, run(16, 13), 4);
    const live = event({ id: 0, at: '2026-11-25T13:00:00Z' });
    feed = withLiveEvent(feed, live);
    const again = withNewestPage(feed, run(30, 27), 4);
    expect(again.events).toEqual([live, ...run(30, 27)]);
    expect(again.end).toBe(false);
  });

  it('reaches the end with a newest page shorter than asked', () => {
    const feed = withLiveEvent(withNewestPage(null, run(3, 1), 4), at(4));
    expect(withNewestPage(feed, run(4, 1), 4)).toEqual({ events: run(4, 1), end: true });
    expect(withNewestPage({ events: run(8, 5), end: false }, run(8, 6), 4)).toEqual({ events: run(8, 5), end: true });
  });

  it('keeps an unstored live event when the page read again holds only what the list has', () => {
    const unstored = event({ id: 0, at: '2026-11-25T12:30:00Z' });
    const feed = withLiveEvent(withNewestPage(null, run(20, 17), 4), unstored);
    expect(ids(withNewestPage(feed, run(20, 17), 4))).toEqual([0, 20, 19, 18, 17]);
  });
});
