// The data source of a real backend: the API client plus one shared
// connection to `GET /api/stream`, open while any page listens.

import {
  ApiClient,
  getHealth,
  getHistory,
  getServerSeries,
  getServers,
  getThresholds,
  setThresholds,
  type HistoryRequest,
} from './api';
import { openEventStream, type SseEvent } from './sse';
import { ConnectionStore, type DataSource, type LiveEvent } from './source';
import type { Snapshot, Thresholds } from './types';

export class HttpSource implements DataSource {
  readonly demo = false;
  readonly connection = new ConnectionStore();
  private readonly client: ApiClient;
  private readonly listeners = new Set<(event: LiveEvent) => void>();
  private stream: { close: () => void } | null = null;

  constructor(
    private token: string | null,
    private readonly fetchImpl?: typeof fetch,
  ) {
    this.client = new ApiClient({
      token: () => this.token,
      onState: (state, detail) => this.connection.set(state, detail),
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
  }

  servers = (signal?: AbortSignal) => getServers(this.client, signal);
  series = (serverId: string, signal?: AbortSignal) => getServerSeries(this.client, serverId, signal);
  history = (request: HistoryRequest, signal?: AbortSignal) => getHistory(this.client, request, signal);
  thresholds = (signal?: AbortSignal) => getThresholds(this.client, signal);
  setThresholds = (thresholds: Thresholds) => setThresholds(this.client, thresholds);

  async version(): Promise<string> {
    return (await getHealth(this.client)).version;
  }

  async check(): Promise<void> {
    // A read that needs the token, so that success means "no banner".
    await getThresholds(this.client).catch(() => undefined);
  }

  setToken(token: string | null): void {
    this.token = token;
    if (this.stream) {
      this.stream.close();
      this.stream = null;
      this.openStream();
    }
  }

  subscribe(listener: (event: LiveEvent) => void): () => void {
    this.listeners.add(listener);
    if (this.stream === null) this.openStream();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.stream) {
        this.stream.close();
        this.stream = null;
      }
    };
  }

  private openStream(): void {
    this.stream = openEventStream({
      url: this.client.url('/api/stream'),
      headers: () => this.client.authHeaders(),
      onEvent: (event) => this.dispatch(event),
      onState: (state) =>
        this.connection.set(state === 'open' ? 'ok' : state, state === 'unreachable' ? 'live stream lost' : ''),
      ...(this.fetchImpl ? { fetch: this.fetchImpl } : {}),
    });
  }

  private dispatch(event: SseEvent): void {
    if (event.type !== 'snapshot') return;
    let snapshot: Snapshot;
    try {
      snapshot = JSON.parse(event.data) as Snapshot;
    } catch {
      return; // a malformed event is skipped; the next one will do
    }
    for (const listener of this.listeners) listener({ type: 'snapshot', snapshot });
  }
}
