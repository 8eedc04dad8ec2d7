import { describe, expect, it } from 'vitest';

import { HttpSource } from './httpSource';
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
    expect(events.map((e) => e.snapshot.server_id)).toEqual(['a']);
    expect(seen).toEqual(['bad', 'good']);
    unsubscribe();
  });
});
