import { describe, expect, it } from 'vitest';

import { HttpSource, parseLiveEvent } from './httpSource';
import type { LiveEvent } from './source';

/** A fetch that answers the stream with `body` for each token in `valid`, 401 otherwise. */
function streamFetch(valid: string, body: string) {
  const seen: (string | undefined)[] = [];
  const fetchMock = async (_url: RequestInfo | URL, init?: RequestInit) => {
    const token = (init?.headers as Record<string, string>)['X-Dashboard-Token'];
    seen.push(token);
    if (token !== valid) return new Response(null, { status: 401 });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(body));
        // Left open, as a live stream is.
      },
    });
    return new Response(stream, { headers: { 'Content-Type': 'text/event-stream' } });
  };
  return { seen, fetch: fetchMock as unknown as typeof fetch };
}

const tick = () => new Promise((r) => setTimeout(r, 10));

describe('HttpSource', () => {
  it('delivers snapshots, skips other and malformed events, and follows a new token', async () => {
    const body =
      'id: 1\nevent: snapshot\ndata: {"version":1,"server_id":"a","timestamp":1,"metrics":[]}\n\n' +
      'id: 2\nevent: snapshot\ndata: {not json\n\n' +
      'id: 3\nevent: alert\ndata: {}\n\n';
    const { seen, fetch } = streamFetch('good', body);
    const source = new HttpSource('bad', fetch);
    const events: LiveEvent[] = [];
    const unsubscribe = source.subscribe((e) => events.push(e));
    await tick();
    expect(source.connection.get().state).toBe('unauthorized');
    expect(events).toEqual([]);

    source.setToken('good');
    await tick();
    expect(source.connection.get().state).toBe('ok');
    expect(events.map((e) => (e.type === 'snapshot' ? e.snapshot.server_id : e.type))).toEqual(['a']);
    expect(seen).toEqual(['bad', 'good']);
    unsubscribe();
  });
});

const ALERT = {
  id: 42,
  rule_id: 'cpu_total_percent',
  rule_name: 'cpu_total_percent',
  server_id: 'web-1',
  metric: 'cpu_usage_percent',
  labels: {},
  from: 'inactive',
  state: 'firing',
  value: 97.5,
  threshold: 90,
  severity: 'warning',
  at: '2026-11-25T14:35:38.123Z',
  message: 'cpu_total_percent: cpu_usage_percent = 97.5 > 90 on web-1',
};

describe('parseLiveEvent', () => {
  it('reads snapshot and alert events, and skips the rest', () => {
    expect(parseLiveEvent({ type: 'alert', data: JSON.stringify(ALERT), lastEventId: '7' })).toEqual({ type: 'alert', event: ALERT });
    expect(parseLiveEvent({ type: 'snapshot', data: '{"version":1,"server_id":"a","timestamp":1,"metrics":[]}', lastEventId: '' })).toMatchObject({
      type: 'snapshot',
      snapshot: { server_id: 'a' },
    });
    expect(parseLiveEvent({ type: 'alert', data: '{}', lastEventId: '' })).toBeNull();
    expect(parseLiveEvent({ type: 'alert', data: JSON.stringify({ ...ALERT, state: 'exploded' }), lastEventId: '' })).toBeNull();
    expect(parseLiveEvent({ type: 'alert', data: 'not json', lastEventId: '' })).toBeNull();
    expect(parseLiveEvent({ type: 'message', data: '{}', lastEventId: '' })).toBeNull();
    expect(parseLiveEvent({ type: 'snapshot', data: 'null', lastEventId: '' })).toBeNull();
  });

  it('delivers alert events of the stream to listeners', async () => {
    const body = `id: 9\nevent: alert\ndata: ${JSON.stringify(ALERT)}\n\n`;
    const { fetch } = streamFetch('good', body);
    const source = new HttpSource('good', fetch);
    const events: LiveEvent[] = [];
    const unsubscribe = source.subscribe((e) => events.push(e));
    await tick();
    expect(events).toEqual([{ type: 'alert', event: ALERT }]);
    unsubscribe();
  });
});
