import { describe, expect, it } from 'vitest';

import { mergeEvents } from '../lib/alertFeed';
import { builtinRules, defaultRule } from '../lib/rules';
import type { LiveEvent } from '../lib/source';
import { parseTimestamp } from '../lib/time';
import { DEMO_INTERVAL } from './generator';
import { DemoSource } from './source';

// 2026-11-25T17:50:00Z: web-02 up, backup-01 down.
const NOW = 1_795_629_000;

function clock(start = NOW) {
  let ms = start * 1000;
  return { now: () => ms, advance: (secs: number) => (ms += secs * 1000) };
}

describe('DemoSource alerts', () => {
  it('fires plausible alerts: the offline host, the unhealthy container', async () => {
    const source = new DemoSource(clock().now);
    const firing = await source.firing();
    const keys = firing.map((a) => `${a.rule_id} ${a.server_id} ${JSON.stringify(a.labels)}`);
    expect(keys).toContain('host_offline backup-01 {}');
    expect(keys).toContain('container_unhealthy web-02 {"name":"api"}');
    for (const a of firing) {
      expect(a.state).toBe('firing');
      expect(parseTimestamp(a.since)).toBeLessThanOrEqual(NOW * 1000);
    }
    // Deterministic.
    expect(await new DemoSource(clock().now).firing()).toEqual(firing);
  });

  it('has a history of events, newest first, with each firing alert’s start and past outages', async () => {
    const source = new DemoSource(clock().now);
    const events = await source.alertEvents({});
    expect(events.length).toBeGreaterThan(5);
    expect(mergeEvents(events, [], 1000)).toEqual(events);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.some((e) => e.rule_id === 'host_offline' && e.server_id === 'web-02' && e.state === 'resolved')).toBe(true);
    expect(events.some((e) => e.rule_id === 'container_unhealthy' && e.state === 'pending')).toBe(true);
    const offline = await source.alertEvents({ serverId: 'web-02', ruleId: 'host_offline', limit: 2 });
    expect(offline).toHaveLength(2);
    expect(offline.every((e) => e.server_id === 'web-02' && e.rule_id === 'host_offline')).toBe(true);
    expect(await source.alertEvents({ since: NOW + 60 })).toEqual([]);
  });

  it('pages with before as the server does: after that event in the whole list, filters applied after; an unknown id, none', async () => {
    const source = new DemoSource(clock().now);
    const all = await source.alertEvents({ limit: 10_000 });
    expect(all.length).toBeGreaterThan(6);
    const first = await source.alertEvents({ limit: 3 });
    const second = await source.alertEvents({ before: first[2]?.id, limit: 3 });
    expect([...first, ...second]).toEqual(all.slice(0, 6));
    // The cursor need not pass the filter: the page is the filtered events after it.
    const cursor = all[0];
    if (!cursor) throw new Error('no event');
    const other = all.find((e) => e.server_id !== cursor.server_id);
    if (!other) throw new Error('one server only');
    const filtered = await source.alertEvents({ serverId: other.server_id, before: cursor.id, limit: 10_000 });
    expect(filtered).toEqual(all.slice(1).filter((e) => e.server_id === other.server_id));
    expect(await source.alertEvents({ before: 999_999_999 })).toEqual([]);
    expect(await source.alertEvents({ before: all[all.length - 1]?.id })).toEqual([]);
  });

  it('serves the built-in rules, a stored user rule, a silence and two notifiers', async () => {
    const source = new DemoSource(clock().now);
    const rules = await source.rules();
    for (const builtin of builtinRules()) expect(rules.some((r) => r.id === builtin.id)).toBe(true);
    expect(rules.find((r) => r.id === 'container_stopped')?.enabled).toBe(false);
    expect(rules.some((r) => r.id === 'mail-queue-deep')).toBe(true);
    const silences = await source.silences();
    expect(silences).toHaveLength(1);
    expect(parseTimestamp(silences[0]?.until ?? 0)).toBeGreaterThan(NOW * 1000);
    const notifiers = await source.notifiers();
    expect(notifiers.map((n) => n.notifier)).toEqual(['ops', 'ntfy-phone']);
    expect(notifiers[1]?.last_error).toBeTruthy();
  });

  it('answers rule writes as the server does', async () => {
    const source = new DemoSource(clock().now);
    await expect(source.createRule({ ...defaultRule('', 'deep', 'queue_depth', '>', 100), resolve_threshold: 120 })).rejects.toMatchObject({
      status: 422,
      code: 'invalid_rule',
      message: expect.stringMatching(/^resolve_threshold: 120 is on the firing side/),
    });
    const created = await source.createRule(defaultRule('', 'Queue deep!', 'queue_depth', '>', 100));
    expect(created.id).toBe('queue-deep');
    expect((await source.createRule(defaultRule('', 'Queue deep!', 'queue_depth', '>', 100))).id).toBe('queue-deep-2');
    await expect(source.createRule(defaultRule('host_offline', 'x', 'host_offline', '>', 3))).rejects.toMatchObject({ status: 409 });
    await expect(source.replaceRule('nope', defaultRule('nope', 'x', 'm', '>', 1))).rejects.toMatchObject({ status: 404 });
    await source.deleteRule('queue-deep');
    await expect(source.deleteRule('queue-deep')).rejects.toMatchObject({ status: 404 });
    // A built-in rule that is not replaced cannot be deleted.
    await expect(source.deleteRule('container_stopped')).rejects.toMatchObject({ status: 404 });
  });

  it('fires an enabled container_stopped rule at the next evaluation, and forgets a disabled rule', async () => {
    const time = clock();
    const source = new DemoSource(time.now);
    const live: LiveEvent[] = [];
    await source.firing();
    const stopped = (await source.rules()).find((r) => r.id === 'container_stopped');
    if (!stopped) throw new Error('no container_stopped rule');
    await source.replaceRule('container_stopped', { ...stopped, enabled: true, for_secs: 0 });
    const unsubscribe = source.subscribe((e) => live.push(e));
    time.advance(DEMO_INTERVAL);
    const firing = await source.firing();
    expect(firing.some((a) => a.rule_id === 'container_stopped' && a.server_id === 'web-01' && a.labels.name === 'migrations')).toBe(true);
    const alerts = live.flatMap((e) => (e.type === 'alert' ? [e.event] : []));
    expect(alerts.some((e) => e.rule_id === 'container_stopped' && e.state === 'firing')).toBe(true);
    expect((await source.alertEvents({ ruleId: 'container_stopped' }))[0]?.state).toBe('firing');

    const unhealthy = (await source.rules()).find((r) => r.id === 'container_unhealthy');
    if (!unhealthy) throw new Error('no container_unhealthy rule');
    await source.replaceRule('container_unhealthy', { ...unhealthy, enabled: false });
    expect((await source.firing()).some((a) => a.rule_id === 'container_unhealthy')).toBe(false);
    unsubscribe();
  });

  it('resolves a threshold alert when the threshold is raised', async () => {
    const time = clock();
    const source = new DemoSource(time.now);
    const before = await source.firing();
    const memory = before.find((a) => a.rule_id === 'memory_used_percent');
    // db-01 runs at about 92 % of its memory.
    expect(memory?.server_id).toBe('db-01');
    await source.setThresholds({ ...(await source.thresholds()), memory_used_percent: 99 });
    time.advance(DEMO_INTERVAL);
    expect((await source.firing()).some((a) => a.rule_id === 'memory_used_percent')).toBe(false);
    expect((await source.alertEvents({ ruleId: 'memory_used_percent', limit: 1 }))[0]).toMatchObject({ from: 'firing', state: 'resolved' });
  });

  it('keeps silences in memory and refuses bad ones', async () => {
    const source = new DemoSource(clock().now);
    await expect(source.createSilence({ until: new Date((NOW + 3600) * 1000).toISOString() })).rejects.toMatchObject({
      status: 422,
      code: 'invalid_silence',
    });
    await expect(source.createSilence({ server_id: 'web-01', until: new Date((NOW - 1) * 1000).toISOString() })).rejects.toMatchObject({
      message: 'until: give a time in the future',
    });
    const created = await source.createSilence({ rule_id: 'host_offline', server_id: 'web-02', until: new Date((NOW + 3600) * 1000).toISOString() });
    expect((await source.silences()).map((s) => s.id)).toContain(created.id);
    await source.deleteSilence(created.id);
    expect((await source.silences()).map((s) => s.id)).not.toContain(created.id);
    await expect(source.deleteSilence(created.id)).rejects.toMatchObject({ status: 404 });
  });
});
