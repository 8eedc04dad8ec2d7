import { describe, expect, it, vi } from 'vitest';

import {
  ApiClient,
  ApiError,
  createRule,
  createSilence,
  deleteRule,
  deleteSilence,
  getAccess,
  getAlertEvents,
  getFiring,
  getHealth,
  getHistory,
  getNotifiers,
  getRules,
  getServers,
  getSilences,
  getThresholds,
  previewRule,
  queryString,
  replaceRule,
  setThresholds,
  type ConnectionState,
} from './api';
import { defaultRule } from './rules';

function client(respond: (url: string, init: RequestInit) => Promise<Response>, token: string | null = 'tok') {
  const states: ConnectionState[] = [];
  const calls: { url: string; init: RequestInit }[] = [];
  const fetchMock = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return respond(String(url), init ?? {});
  });
  const c = new ApiClient({ token: () => token, onState: (s) => states.push(s), fetch: fetchMock as unknown as typeof fetch });
  return { c, states, calls };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

describe('queryString', () => {
  it('keeps defined values, encoded', () => {
    expect(queryString({ a: 1, b: undefined, match: 'cpu="3"' })).toBe('?a=1&match=cpu%3D%223%22');
    expect(queryString({})).toBe('');
  });
});

describe('ApiClient', () => {
  it('sends the dashboard token and reports success', async () => {
    const { c, states, calls } = client(async () => json([]));
    await expect(getServers(c)).resolves.toEqual([]);
    expect((calls[0]?.init.headers as Record<string, string>)['X-Dashboard-Token']).toBe('tok');
    expect(states).toEqual(['ok']);
  });

  it('sends no token header without a token', async () => {
    const { c, calls } = client(async () => json([]), null);
    await getServers(c);
    expect(calls[0]?.init.headers).not.toHaveProperty('X-Dashboard-Token');
  });

  it('reports 401 as unauthorized, 5xx and network failures as unreachable', async () => {
    const unauthorized = client(async () => json({ error: 'unauthorized', message: 'missing or invalid token' }, 401));
    await expect(getServers(unauthorized.c)).rejects.toMatchObject({ status: 401 });
    expect(unauthorized.states).toEqual(['unauthorized']);

    const down = client(async () => json({ error: 'unavailable', message: 'database down' }, 503));
    await expect(getServers(down.c)).rejects.toMatchObject({ status: 503, message: 'database down' });
    expect(down.states).toEqual(['unreachable']);

    const refused = client(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(getServers(refused.c)).rejects.toBeInstanceOf(ApiError);
    expect(refused.states).toEqual(['unreachable']);
  });

  it('gives a 403 as the refusal of that request, with the server’s code and message, not as a bad token', async () => {
    const message = 'the read token may read but not change anything; use the dashboard token (DASHBOARD_TOKEN) or the admin token';
    const readOnly = client(async () => json({ error: 'insufficient_scope', message }, 403));
    const thresholds = { cpu_total_percent: 85, memory_used_percent: 80, disk_used_percent: 90 };
    const refused = setThresholds(readOnly.c, thresholds);
    await expect(refused).rejects.toBeInstanceOf(ApiError);
    await expect(refused).rejects.toMatchObject({ status: 403, code: 'insufficient_scope', message });
    await expect(createRule(readOnly.c, defaultRule('', 'r', 'm', '>', 1))).rejects.toMatchObject({ status: 403, code: 'insufficient_scope', message });
    await expect(createSilence(readOnly.c, { rule_id: 'host_offline', until: '2026-11-26T06:00:00Z' })).rejects.toMatchObject({ code: 'insufficient_scope' });
    await expect(deleteSilence(readOnly.c, 'abc')).rejects.toMatchObject({ code: 'insufficient_scope', message });
    // The server answered: no banner, no token form.
    expect(readOnly.states).toEqual(['ok', 'ok', 'ok', 'ok']);

    // The other 403s a browser may meet: the same, with their own code.
    const host = client(async () => json({ error: 'host_not_allowed', message: 'the Host header evil.example is not allowed' }, 403));
    await expect(getThresholds(host.c)).rejects.toMatchObject({ status: 403, code: 'host_not_allowed', message: 'the Host header evil.example is not allowed' });
    expect(host.states).toEqual(['ok']);

    // A 403 without a JSON body still throws, with a code of its own.
    const bare = client(async () => new Response('forbidden', { status: 403 }));
    await expect(getServers(bare.c)).rejects.toMatchObject({ status: 403, code: 'forbidden', message: 'HTTP 403' });
    expect(bare.states).toEqual(['ok']);

    // A 401 is still the missing or wrong token: the banner's state.
    const wrongToken = client(async () => json({ error: 'unauthorized', message: 'missing or invalid token' }, 401));
    await expect(setThresholds(wrongToken.c, thresholds)).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(wrongToken.states).toEqual(['unauthorized']);
  });

  it('reads the caller’s access with the token, reporting nothing either way', async () => {
    const answer = { role: 'read', change_alerts: false, admin: false };
    const { c, calls, states } = client(async () => json(answer));
    await expect(getAccess(c)).resolves.toEqual(answer);
    expect(`${calls[0]?.init.method} ${calls[0]?.url}`).toBe('GET /api/access');
    expect((calls[0]?.init.headers as Record<string, string>)['X-Dashboard-Token']).toBe('tok');
    expect(states).toEqual([]);

    const wrong = client(async () => json({ error: 'unauthorized', message: 'missing or invalid token' }, 401));
    await expect(getAccess(wrong.c)).rejects.toMatchObject({ status: 401 });
    const old = client(async () => json({ error: 'not_found', message: 'no such route' }, 404));
    await expect(getAccess(old.c)).rejects.toMatchObject({ status: 404 });
    const down = client(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(getAccess(down.c)).rejects.toMatchObject({ status: 0 });
    // Its failure alone shows no banner: the other reads do.
    expect([...wrong.states, ...old.states, ...down.states]).toEqual([]);
  });

  it('passes a client error on with its code, the backend being fine', async () => {
    const { c, states } = client(async () => json({ error: 'invalid_range', message: 'from must be before to' }, 400));
    await expect(getHistory(c, { serverId: 's', metric: 'm', from: 2, to: 1 })).rejects.toMatchObject({
      status: 400,
      code: 'invalid_range',
      message: 'from must be before to',
    });
    expect(states).toEqual(['ok']);
  });

  it('lets the health check, which needs no token, leave the state alone', async () => {
    const { c, states, calls } = client(async () => json({ status: 'ok', version: '0.1.0', database: 'reachable', store: 'sqlite' }));
    await expect(getHealth(c)).resolves.toMatchObject({ version: '0.1.0' });
    expect(calls[0]?.url).toBe('/api/health');
    expect(states).toEqual([]);
  });

  it('rethrows an abort without reporting anything', async () => {
    const { c, states } = client(async () => {
      throw new DOMException('aborted', 'AbortError');
    });
    await expect(getServers(c)).rejects.toMatchObject({ name: 'AbortError' });
    expect(states).toEqual([]);
  });

  it('builds the history query with points, or step instead', async () => {
    const { c, calls } = client(async () => json({ series: [] }));
    await getHistory(c, { serverId: 'srv-01', metric: 'cpu_usage_percent', match: 'cpu=""', from: 1795000000.1234, to: 1795003600, points: 800 });
    const url = new URL(calls[0]?.url ?? '', 'http://x');
    expect(url.pathname).toBe('/api/metrics/history');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      server_id: 'srv-01',
      metric: 'cpu_usage_percent',
      match: 'cpu=""',
      from: '1795000000.123',
      to: '1795003600',
      points: '800',
    });
    await getHistory(c, { serverId: 'srv-01', from: 0, to: 60, points: 800, step: 10 });
    const second = new URL(calls[1]?.url ?? '', 'http://x');
    expect(second.searchParams.get('step')).toBe('10');
    expect(second.searchParams.has('points')).toBe(false);
    expect(second.searchParams.has('metric')).toBe(false);
  });

  it('posts thresholds as JSON', async () => {
    const body = { cpu_total_percent: 85, memory_used_percent: 80, disk_used_percent: 90 };
    const { c, calls } = client(async (_url, init) => json(JSON.parse(String(init.body))));
    await expect(setThresholds(c, body)).resolves.toEqual(body);
    expect(calls[0]?.init.method).toBe('POST');
    expect((calls[0]?.init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
  });

  it('reads the alert endpoints with the token', async () => {
    const { c, calls } = client(async () => json([]));
    await getFiring(c);
    await getRules(c);
    await getSilences(c);
    await getNotifiers(c);
    expect(calls.map((k) => `${k.init.method} ${k.url}`)).toEqual([
      'GET /api/alerts/firing',
      'GET /api/alerts/rules',
      'GET /api/alerts/silences',
      'GET /api/alerts/notifiers',
    ]);
    for (const call of calls) expect((call.init.headers as Record<string, string>)['X-Dashboard-Token']).toBe('tok');
  });

  it('builds the events query from the filters given', async () => {
    const { c, calls } = client(async () => json([]));
    await getAlertEvents(c, { serverId: 'web 1', ruleId: 'host_offline', since: 1795000000.5, limit: 500 });
    const url = new URL(calls[0]?.url ?? '', 'http://x');
    expect(url.pathname).toBe('/api/alerts/events');
    expect(Object.fromEntries(url.searchParams)).toEqual({ server_id: 'web 1', rule_id: 'host_offline', since: '1795000000.5', limit: '500' });
    await getAlertEvents(c, { ruleId: 'host_offline', before: 42, limit: 100 });
    expect(calls[1]?.url).toBe('/api/alerts/events?rule_id=host_offline&before=42&limit=100');
    // Empty filters are left out, not sent empty.
    await getAlertEvents(c, { serverId: '', ruleId: '' });
    expect(calls[2]?.url).toBe('/api/alerts/events');
    await getAlertEvents(c);
    expect(calls[3]?.url).toBe('/api/alerts/events');
  });

  it('creates, replaces and deletes rules', async () => {
    const rule = { ...defaultRule('', 'mail queue deep', 'queue_depth', '>', 100), matchers: [{ name: 'queue', op: '=' as const, value: 'mail' }] };
    const { c, calls } = client(async (_url, init) =>
      init.method === 'DELETE' ? new Response(null, { status: 204 }) : json({ ...JSON.parse(String(init.body)), id: 'r1' }, init.method === 'POST' ? 201 : 200),
    );
    await expect(createRule(c, rule)).resolves.toMatchObject({ id: 'r1', name: 'mail queue deep' });
    expect(calls[0]?.init.method).toBe('POST');
    expect(calls[0]?.url).toBe('/api/alerts/rules');
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual(rule);

    await replaceRule(c, 'container stopped/1', { ...rule, id: '', enabled: false });
    expect(calls[1]?.init.method).toBe('PUT');
    expect(calls[1]?.url).toBe('/api/alerts/rules/container%20stopped%2F1');
    // The body carries the path's id (the server refuses a different one).
    expect(JSON.parse(String(calls[1]?.init.body))).toMatchObject({ id: 'container stopped/1', enabled: false });
    expect((calls[1]?.init.headers as Record<string, string>)['Content-Type']).toBe('application/json');

    await expect(deleteRule(c, 'r1')).resolves.toBeUndefined();
    expect(`${calls[2]?.init.method} ${calls[2]?.url}`).toBe('DELETE /api/alerts/rules/r1');
    expect(calls[2]?.init.body).toBeUndefined();
  });

  it('gives the server’s message of a refused rule', async () => {
    const message = 'resolve_threshold: 120 is on the firing side of > 100; for hysteresis it must be at or below the threshold';
    const { c, states } = client(async () => json({ error: 'invalid_rule', message }, 422));
    await expect(createRule(c, defaultRule('', 'r', 'm', '>', 100))).rejects.toMatchObject({ status: 422, code: 'invalid_rule', message });
    expect(states).toEqual(['ok']);
  });

  it('previews a rule: POST with the token, the rule as the body, the range and server in the query', async () => {
    const answer = { from: '2026-12-02T03:00:00Z', to: '2026-12-03T03:00:00Z', fired: 0, servers: [] };
    const rule = { ...defaultRule('', 'mail queue deep', 'queue_depth', '>', 100), resolve_threshold: 80, for_secs: 60 };
    const { c, calls, states } = client(async () => json(answer));
    await expect(previewRule(c, rule)).resolves.toEqual(answer);
    expect(`${calls[0]?.init.method} ${calls[0]?.url}`).toBe('POST /api/alerts/preview');
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual(rule);
    const headers = calls[0]?.init.headers as Record<string, string>;
    expect(headers['X-Dashboard-Token']).toBe('tok');
    expect(headers['Content-Type']).toBe('application/json');
    expect(states).toEqual(['ok']);

    const controller = new AbortController();
    await previewRule(c, rule, { from: 1795000000.1234, to: '2026-12-03T03:00:00Z', serverId: 'web 1' }, controller.signal);
    const url = new URL(calls[1]?.url ?? '', 'http://x');
    expect(url.pathname).toBe('/api/alerts/preview');
    expect(Object.fromEntries(url.searchParams)).toEqual({ from: '1795000000.123', to: '2026-12-03T03:00:00Z', server_id: 'web 1' });
    expect(calls[1]?.init.signal).toBe(controller.signal);
    // An empty server is every server in scope, not sent empty.
    await previewRule(c, rule, { serverId: '' });
    expect(calls[2]?.url).toBe('/api/alerts/preview');
  });

  it('gives the server’s reason a rule cannot be previewed', async () => {
    const message = 'a host_offline rule counts the time between reports, which stored history does not replay; it cannot be previewed';
    const { c, states } = client(async () => json({ error: 'not_previewable', message }, 422));
    await expect(previewRule(c, defaultRule('', 'offline', 'host_offline', '>', 3))).rejects.toMatchObject({
      status: 422,
      code: 'not_previewable',
      message,
    });
    expect(states).toEqual(['ok']);
    const range = client(async () => json({ error: 'invalid_range', message: 'a preview replays at most 31 days: give a shorter range' }, 400));
    await expect(previewRule(range.c, defaultRule('', 'r', 'm', '>', 1), { from: 0, to: 1e9 })).rejects.toMatchObject({ code: 'invalid_range' });
  });

  it('creates and deletes silences', async () => {
    const { c, calls } = client(async (_url, init) =>
      init.method === 'DELETE' ? new Response(null, { status: 204 }) : json({ id: 'abc', comment: '', ...JSON.parse(String(init.body)) }, 201),
    );
    const body = { rule_id: 'host_offline', server_id: 'web-1', until: '2026-11-26T06:00:00.000Z', comment: 'maintenance' };
    await expect(createSilence(c, body)).resolves.toMatchObject({ id: 'abc', ...body });
    expect(`${calls[0]?.init.method} ${calls[0]?.url}`).toBe('POST /api/alerts/silences');
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual(body);
    await deleteSilence(c, 'abc');
    expect(`${calls[1]?.init.method} ${calls[1]?.url}`).toBe('DELETE /api/alerts/silences/abc');
  });

  it('gives the server’s message of a refused silence', async () => {
    const message = 'give a rule_id, a server_id or both (a silence of everything is too easy to forget)';
    const { c } = client(async () => json({ error: 'invalid_silence', message }, 422));
    await expect(createSilence(c, { until: '2026-11-26T06:00:00Z' })).rejects.toMatchObject({ code: 'invalid_silence', message });
  });
});
