// Server-Sent Events over fetch(). EventSource cannot send headers, and the
// stream needs X-Dashboard-Token; so the dashboard reads the response body
// itself, parses it as the HTML standard says (§ 9.2 "Server-sent events"),
// and reconnects with `Last-Event-ID` and an exponential backoff.

/** One dispatched event. */
export interface SseEvent {
  /** The `event:` field, `message` when absent. */
  type: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last event id seen when this event was dispatched (`` when none). */
  lastEventId: string;
}

/** An incremental parser: feed it chunks as they arrive, in any split. */
export class SseParser {
  /** The last `id:` received; sent back as `Last-Event-ID` on reconnection. */
  lastEventId = '';
  /** The reconnection delay the server asked for with `retry:`, in ms. */
  retryMs: number | null = null;

  private buffer = '';
  private dataLines: string[] = [];
  private eventType = '';
  private startOfStream = true;
  // A chunk that ended with CR: an LF opening the next chunk belongs to it.
  private pendingCr = false;
  private decoder = new TextDecoder();

  /** Starts a new response: drops any partial event, keeps the last id and retry. */
  reset(): void {
    this.buffer = '';
    this.dataLines = [];
    this.eventType = '';
    this.startOfStream = true;
    this.pendingCr = false;
    this.decoder = new TextDecoder();
  }

  /** Feeds raw bytes (UTF-8, possibly cut inside a character). */
  pushBytes(bytes: Uint8Array): SseEvent[] {
    return this.push(this.decoder.decode(bytes, { stream: true }));
  }

  /** Feeds decoded text; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    let text = chunk;
    if (this.startOfStream && text.length > 0) {
      this.startOfStream = false;
      if (text.startsWith('\uFEFF')) text = text.slice(1);
    }
    if (this.pendingCr && text.length > 0) {
      this.pendingCr = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    this.buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 === this.buffer.length) {
          this.pendingCr = true;
        } else if (this.buffer.charCodeAt(i + 1) === 10) {
          i += 1;
        }
      }
      start = i + 1;
      this.line(line, events);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  private line(line: string, events: SseEvent[]): void {
    if (line === '') {
      this.dispatch(events);
      return;
    }
    if (line.startsWith(':')) return; // a comment, such as a keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(events: SseEvent[]): void {
    if (this.dataLines.length > 0) {
      events.push({
        type: this.eventType === '' ? 'message' : this.eventType,
        data: this.dataLines.join('\n'),
        lastEventId: this.lastEventId,
      });
    }
    this.dataLines = [];
    this.eventType = '';
  }
}

/**
 * The wait before reconnection attempt `attempt` (0 for the first): doubles
 * from `baseMs` up to `maxMs`, then takes a random 50 to 100 % of it so that
 * many dashboards do not reconnect in step after a server restart.
 */
export function backoffDelay(
  attempt: number,
  baseMs = 1000,
  maxMs = 30_000,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** Where a stream connection stands, for the banner. */
export type StreamState = 'open' | 'unreachable' | 'unauthorized';

export interface EventStreamOptions {
  url: string;
  /** Extra request headers, read at each (re)connection (the dashboard token). */
  headers: () => Record<string, string>;
  onEvent: (event: SseEvent) => void;
  onState: (state: StreamState) => void;
  fetch?: typeof fetch;
  /** Waits `ms` or until `signal` aborts; replaceable in tests. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * Opens the stream and keeps it open until `close()`: after a failure or the
 * end of a response it reconnects with `Last-Event-ID`, so that the server
 * replays what was missed. A 401 or 403 stops it (the token must change
 * first: open a new stream then).
 */
export function openEventStream(options: EventStreamOptions): { close: () => void } {
  const controller = new AbortController();
  const { signal } = controller;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const sleep = options.sleep ?? abortableSleep;
  const parser = new SseParser();

  const run = async (): Promise<void> => {
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const headers: Record<string, string> = {
          Accept: 'text/event-stream',
          ...options.headers(),
        };
        if (parser.lastEventId !== '') headers['Last-Event-ID'] = parser.lastEventId;
        const response = await doFetch(options.url, { headers, signal, cache: 'no-store' });
        if (response.status === 401 || response.status === 403) {
          options.onState('unauthorized');
          return;
        }
        if (!response.ok || response.body === null) {
          throw new Error(`HTTP ${response.status}`);
        }
        options.onState('open');
        attempt = 0;
        parser.reset();
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (const event of parser.pushBytes(value)) {
            // Nothing reaches a listener after close().
            if (signal.aborted) {
              await reader.cancel();
              return;
            }
            options.onEvent(event);
          }
        }
      } catch {
        if (signal.aborted) return;
        options.onState('unreachable');
      }
      if (signal.aborted) return;
      await sleep(backoffDelay(attempt, parser.retryMs ?? 1000, 30_000, options.random), signal);
      attempt += 1;
    }
  };
  void run();
  return { close: () => controller.abort() };
}
