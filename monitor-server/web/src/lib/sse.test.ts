import { describe, expect, it, vi } from 'vitest';

import { SseParser, backoffDelay, openEventStream, type SseEvent, type StreamState } from './sse';

const STREAM = 'id: 1\nevent: snapshot\ndata: {"a":1}\n\n: keep-alive\n\nid: 2\nevent: snapshot\ndata: {"a":2}\n\n';

function parseAll(chunks: string[]): { events: SseEvent[]; parser: SseParser } {
  const parser = new SseParser();
  const events = chunks.flatMap((c) => parser.push(c));
  return { events, parser };
}

describe('SseParser', () => {
  it('parses events with type, data and id', () => {
    const { events, parser } = parseAll([STREAM]);
    expect(events).toEqual([
      { type: 'snapshot', data: '{"a":1}', lastEventId: '1' },
      { type: 'snapshot', data: '{"a":2}', lastEventId: '2' },
    ]);
    expect(parser.lastEventId).toBe('2');
  });

  it('gives the same events however the stream is split', () => {
    const whole = parseAll([STREAM]).events;
    for (let i = 0; i <= STREAM.length; i++) {
      expect(parseAll([STREAM.slice(0, i), STREAM.slice(i)]).events).toEqual(whole);
    }
    expect(parseAll([...STREAM]).events).toEqual(whole);
  });

  it('accepts CRLF, CR and LF line ends, with a CRLF split between chunks', () => {
    const crlf = STREAM.replaceAll('\n', '\r\n');
    const cr = STREAM.replaceAll('\n', '\r');
    const whole = parseAll([STREAM]).events;
    expect(parseAll([crlf]).events).toEqual(whole);
    expect(parseAll([cr]).events).toEqual(whole);
    for (let i = 0; i <= crlf.length; i++) {
      expect(parseAll([crlf.slice(0, i), crlf.slice(i)]).events).toEqual(whole);
    }
  });

  it('joins data lines, defaults the type to message and skips events without data', () => {
    const { events } = parseAll(['data: one\ndata:two\ndata\n\nevent: x\n\nretry: 2500\ndata: three\n\n']);
    expect(events).toEqual([
      { type: 'message', data: 'one\ntwo\n', lastEventId: '' },
      { type: 'message', data: 'three', lastEventId: '' },
    ]);
  });

  it('keeps the id of an event without data, ignores ids with NUL, and reads retry', () => {
    const parser = new SseParser();
    parser.push('id: 7\n\nid: bad\0id\nretry: 2500\nretry: soon\n\n');
    expect(parser.lastEventId).toBe('7');
    expect(parser.retryMs).toBe(2500);
  });

  it('drops a byte order mark and an unfinished event at the end', () => {
    const { events } = parseAll(['\uFEFFdata: a\n\ndata: unfinished']);
    expect(events).toEqual([{ type: 'message', data: 'a', lastEventId: '' }]);
  });

  it('decodes UTF-8 split inside a character', () => {
    const bytes = new TextEncoder().encode('data: “café” ✓\n\n');
    for (let i = 1; i < bytes.length; i++) {
      const parser = new SseParser();
      const events = [...parser.pushBytes(bytes.slice(0, i)), ...parser.pushBytes(bytes.slice(i))];
      expect(events.map((e) => e.data)).toEqual(['“café” ✓']);
    }
  });

  it('forgets a partial event on reset but keeps the last id', () => {
    const parser = new SseParser();
    parser.push('id: 4\ndata: x\n\ndata: half');
    parser.reset();
    expect(parser.lastEventId).toBe('4');
    expect(parser.push('data: new\n\n')).toEqual([{ type: 'message', data: 'new', lastEventId: '4' }]);
  });
});

describe('backoffDelay', () => {
  it('doubles up to the maximum, with 50 to 100 % jitter', () => {
    expect(backoffDelay(0, 1000, 30_000, () => 1)).toBe(1000);
    expect(backoffDelay(0, 1000, 30_000, () => 0)).toBe(500);
    expect(backoffDelay(3, 1000, 30_000, () => 1)).toBe(8000);
    expect(backoffDelay(10, 1000, 30_000, () => 1)).toBe(30_000);
    expect(backoffDelay(1000, 1000, 30_000, () => 0)).toBe(15_000);
  });
});

/** A response whose body streams `chunks`, then ends. */
function sseResponse(chunks: string[], status = 200): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  return new Response(status === 200 ? body : null, { status, headers: { 'Content-Type': 'text/event-stream' } });
}

describe('openEventStream', () => {
  it('sends the token, then Last-Event-ID on reconnection, and backs off after failures', async () => {
    const requests: Record<string, string>[] = [];
    const responses: (() => Promise<Response>)[] = [
      async () => sseResponse(['id: 41\nevent: snapshot\ndata: {}\n', '\nid: 42\nevent: snapshot\ndata: {"x":1}\n\n']),
      async () => {
        throw new TypeError('connection refused');
      },
      async () => sseResponse(['id: 43\nevent: snapshot\ndata: {}\n\n']),
      async () => sseResponse([], 401),
    ];
    const fetchMock = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      requests.push({ ...(init?.headers as Record<string, string>) });
      const next = responses.shift();
      if (!next) throw new Error('no more responses');
      return next();
    });
    const events: SseEvent[] = [];
    const states: StreamState[] = [];
    const sleeps: number[] = [];
    await new Promise<void>((resolve) => {
      openEventStream({
        url: '/api/stream',
        headers: () => ({ 'X-Dashboard-Token': 'secret' }),
        onEvent: (e) => events.push(e),
        onState: (s) => {
          states.push(s);
          if (s === 'unauthorized') resolve();
        },
        fetch: fetchMock as unknown as typeof fetch,
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        random: () => 1,
      });
    });
    expect(events.map((e) => e.lastEventId)).toEqual(['41', '42', '43']);
    expect(requests[0]).toEqual({ Accept: 'text/event-stream', 'X-Dashboard-Token': 'secret' });
    expect(requests[1]?.['Last-Event-ID']).toBe('42');
    expect(requests[2]?.['Last-Event-ID']).toBe('42');
    expect(requests[3]?.['Last-Event-ID']).toBe('43');
    expect(states).toEqual(['open', 'unreachable', 'open', 'unauthorized']);
    // After the end of a response, after a failure (second attempt), after a new success.
    expect(sleeps).toEqual([1000, 2000, 1000]);
    expect(fetchMock).toHaveBeenCalledTimes(4);
  });

  it('stops reconnecting when closed', async () => {
    let calls = 0;
    const fetchMock = async () => {
      calls += 1;
      return sseResponse(['data: x\n\n', 'data: y\n\n']);
    };
    const events: string[] = [];
    const stream = openEventStream({
      url: '/api/stream',
      headers: () => ({}),
      onEvent: (e) => {
        events.push(e.data);
        stream.close();
      },
      onState: () => undefined,
      fetch: fetchMock as unknown as typeof fetch,
      sleep: async () => undefined,
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toBe(1);
    expect(events).toEqual(['x']);
  });
});
