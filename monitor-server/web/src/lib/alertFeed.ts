// The alerts firing now and the recent transitions, kept current from the
// stream's `alert` events between two reads of `GET /api/alerts/firing` and
// `GET /api/alerts/events`. Pure functions: the page holds the lists.

import { parseOptionalTimestamp, parseTimestamp } from './time';
import type { AlertEvent, AlertRule, AlertStateRecord, Labels, Severity, Silence } from './types';

/** One alert's identity: rule, server and series labels (in name order). */
export function alertKey(alert: { rule_id: string; server_id: string; labels: Labels }): string {
  const labels = Object.keys(alert.labels)
    .sort()
    .map((k) => [k, alert.labels[k] ?? '']);
  return JSON.stringify([alert.rule_id, alert.server_id, labels]);
}

function ms(t: AlertStateRecord['since']): number {
  const v = parseTimestamp(t);
  return Number.isFinite(v) ? v : 0;
}

/**
 * The firing list after one transition: a `firing` event adds its alert (or
 * updates it), any other state removes it. An event older than what the
 * list knows of its alert (a replay after reconnecting, or an event that
 * raced a fresher read) changes nothing.
 */
export function applyAlertEvent(firing: readonly AlertStateRecord[], event: AlertEvent): AlertStateRecord[] {
  const key = alertKey(event);
  const at = ms(event.at);
  const index = firing.findIndex((a) => alertKey(a) === key);
  const current = index === -1 ? undefined : firing[index];
  if (current && ms(current.since) > at) return firing as AlertStateRecord[];
  if (event.state !== 'firing') {
    if (index === -1) return firing as AlertStateRecord[];
    return firing.filter((_, i) => i !== index);
  }
  const record: AlertStateRecord = {
    rule_id: event.rule_id,
    server_id: event.server_id,
    labels: event.labels,
    state: 'firing',
    since: event.at,
    last_value: event.value,
    last_notified: current?.last_notified ?? null,
  };
  if (current && ms(current.since) === at) return firing as AlertStateRecord[];
  if (index === -1) return [...firing, record];
  return firing.map((a, i) => (i === index ? record : a));
}

/**
 * A fresh read of the firing list, with the live events received since the
 * read was sent applied on top (the read may have been answered before
 * them). Alerts the read lists twice are kept once.
 */
export function reconcileFiring(fetched: readonly AlertStateRecord[], liveSince: readonly AlertEvent[]): AlertStateRecord[] {
  const seen = new Set<string>();
  let list = fetched.filter((a) => {
    const key = alertKey(a);
    if (a.state !== 'firing' || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  for (const event of [...liveSince].sort(compareEventsOldestFirst)) list = applyAlertEvent(list, event);
  return list;
}

function eventIdentity(e: AlertEvent): string {
  // Stored events have ids; an unstored one (id 0) is known by what it says.
  return e.id > 0 ? `#${e.id}` : `${alertKey(e)}@${String(e.at)}>${e.state}`;
}

function compareEventsOldestFirst(a: AlertEvent, b: AlertEvent): number {
  return ms(a.at) - ms(b.at) || a.id - b.id;
}

/** Newest first: by time, then by id (the store's order within one instant). */
export function compareEventsNewestFirst(a: AlertEvent, b: AlertEvent): number {
  return -compareEventsOldestFirst(a, b);
}

/** Events merged into a list: each once (by id), newest first, at most `limit` (by default all). */
export function mergeEvents(list: readonly AlertEvent[], incoming: readonly AlertEvent[], limit = Infinity): AlertEvent[] {
  const byId = new Map<string, AlertEvent>();
  for (const e of list) byId.set(eventIdentity(e), e);
  for (const e of incoming) byId.set(eventIdentity(e), e);
  return [...byId.values()].sort(compareEventsNewestFirst).slice(0, Math.max(0, limit));
}

/** How many events one read of `GET /api/alerts/events` asks for: the newest page, or the next older one. */
export const EVENTS_PAGE = 100;

/** The events list of the alerts page: the newest page, the older pages read since, the live events. */
export interface EventFeed {
  /** Newest first, each once. */
  events: AlertEvent[];
  /** A page came back shorter than asked: there is nothing older to read. */
  end: boolean;
}

/**
 * The `before` of the next older page: the id of the oldest event listed
 * that is stored (a live event not stored has id 0); null when none is.
 */
export function olderCursor(events: readonly AlertEvent[]): number | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const id = events[i]?.id ?? 0;
    if (id > 0) return id;
  }
  return null;
}

/**
 * A read of the newest page (`limit` asked for) merged into the list: each
 * event once, newest first, and as many as the list held (live events and
 * older pages kept; the page's events the list missed push its oldest
 * out, which can then be read again). A full page that shares no event with
 * the list may leave a gap below it: the list starts again from the page
 * (with the live events newer than it).
 */
export function withNewestPage(feed: EventFeed | null, page: readonly AlertEvent[], limit = EVENTS_PAGE): EventFeed {
  const short = page.length < limit;
  const list = feed?.events ?? [];
  const listed = new Set(list.map(eventIdentity));
  const newest = page[0];
  if (!short && newest && list.length > 0 && !page.some((e) => listed.has(eventIdentity(e)))) {
    const newer = list.filter((e) => compareEventsNewestFirst(e, newest) < 0);
    return { events: mergeEvents(newer, page), end: false };
  }
  const merged = mergeEvents(list, page);
  const keep = Math.max(list.length, page.length);
  return { events: merged.slice(0, keep), end: short || (merged.length <= keep && (feed?.end ?? false)) };
}

/**
 * A read of the page older than the list (`before` the id it was asked
 * with, `limit` asked for) appended to it. A page asked for before the list
 * changed under it (the newest page read again started it over) is
 * dropped: it would no longer follow on.
 */
export function withOlderPage(feed: EventFeed, before: number, page: readonly AlertEvent[], limit = EVENTS_PAGE): EventFeed {
  if (olderCursor(feed.events) !== before) return feed;
  return { events: mergeEvents(feed.events, page), end: page.length < limit };
}

/** The most events the list keeps: a page left open through an alert storm stays light. */
export const EVENTS_KEEP = 10_000;

/**
 * A live event added to the list: it grows, up to `keep` events; beyond,
 * the oldest go (and can be read again as an older page).
 */
export function withLiveEvent(feed: EventFeed, event: AlertEvent, keep = EVENTS_KEEP): EventFeed {
  const events = mergeEvents(feed.events, [event]);
  if (events.length <= keep) return { ...feed, events };
  return { events: events.slice(0, keep), end: false };
}

/** What the events list is filtered by (as `GET /api/alerts/events` filters). */
export interface EventFilter {
  serverId?: string;
  ruleId?: string;
}

/** True when a (live) event passes the list's filter. */
export function eventMatches(event: AlertEvent, filter: EventFilter): boolean {
  return (!filter.serverId || event.server_id === filter.serverId) && (!filter.ruleId || event.rule_id === filter.ruleId);
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

/** The rule of an alert, when the page knows the rules. */
export type RuleLookup = (ruleId: string) => AlertRule | undefined;

/** Critical first, then warning, then info; within one, the newest first; then by server and key. */
export function sortFiring(firing: readonly AlertStateRecord[], rule: RuleLookup): AlertStateRecord[] {
  const rank = (a: AlertStateRecord) => SEVERITY_RANK[rule(a.rule_id)?.severity ?? 'warning'];
  return [...firing].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      ms(b.since) - ms(a.since) ||
      a.server_id.localeCompare(b.server_id) ||
      alertKey(a).localeCompare(alertKey(b)),
  );
}

/** Firing alerts per server id. */
export function firingCounts(firing: readonly AlertStateRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of firing) {
    if (a.state === 'firing') counts.set(a.server_id, (counts.get(a.server_id) ?? 0) + 1);
  }
  return counts;
}

/** The silence that holds an alert's notifications at `nowMs` (the one ending last), as the server decides. */
export function silenceFor(
  silences: readonly Silence[],
  alert: { rule_id: string; server_id: string },
  nowMs: number,
): Silence | undefined {
  let found: Silence | undefined;
  let foundUntil = -Infinity;
  for (const s of silences) {
    const until = parseOptionalTimestamp(s.until);
    if (until === null || until <= nowMs) continue;
    if (s.rule_id !== undefined && s.rule_id !== alert.rule_id) continue;
    if (s.server_id !== undefined && s.server_id !== alert.server_id) continue;
    if (until > foundUntil) {
      found = s;
      foundUntil = until;
    }
  }
  return found;
}

/** A transition in words: `firing`, `resolved`, `pending`, `back to normal` (pending that did not last). */
export function transitionText(event: Pick<AlertEvent, 'from' | 'state'>): string {
  if (event.state === 'inactive') return event.from === 'pending' ? 'cleared before firing' : 'inactive';
  return event.state;
}

/** The server's sentence about an event without the rule name it starts with (shown beside it). */
export function eventDetail(event: Pick<AlertEvent, 'rule_name' | 'message'>): string {
  const message = event.message ?? '';
  const prefix = `${event.rule_name}: `;
  return event.rule_name && message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

/** Checks the shape of an `alert` stream event's data before it reaches a list. */
export function isAlertEvent(value: unknown): value is AlertEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const states = ['inactive', 'pending', 'firing', 'resolved'];
  return (
    typeof v.id === 'number' &&
    typeof v.rule_id === 'string' &&
    typeof v.server_id === 'string' &&
    typeof v.state === 'string' &&
    states.includes(v.state) &&
    (typeof v.at === 'string' || typeof v.at === 'number') &&
    typeof v.labels === 'object' &&
    v.labels !== null
  );
}
