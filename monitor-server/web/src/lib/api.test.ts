import { describe, expect, it, vi } from 'vitest';

import {
  ApiClient,
  ApiError,
  getHealth,
  getHistory,
  getServers,
  queryString,
  setThresholds,
  type ConnectionState,
} from './api';

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
});
