// The data source of a real backend: the API client plus one shared
// connection to `GET /api/stream`, open while any page listens.

import { isAlertEvent } from './alertFeed';
import {
  ApiClient,
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
  getServerSeries,
  getServers,
  getSilences,
  getThresholds,
  previewRule,
  replaceRule,
  setThresholds,
  type EventsRequest,
  type HistoryRequest,
  type PreviewRequest,
} from './api';
import { openEventStream, type SseEvent } from './sse';
import { ConnectionStore, type DataSource, type LiveEvent } from './source';
import type { AlertRule, NewSilence, Snapshot, Thresholds } from './types';

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

  access = (signal?: AbortSignal) => getAccess(this.client, signal);
  servers = (signal?: AbortSignal) => getServers(this.client, signal);
  series = (serverId: string, signal?: AbortSignal) => getServerSeries(this.client, serverId, signal);
  history = (request: HistoryRequest, signal?: AbortSignal) => getHistory(this.client, request, signal);
  thresholds = (signal?: AbortSignal) => getThresholds(this.client, signal);
  setThresholds = (thresholds: Thresholds) => setThresholds(this.client, thresholds);
  firing = (signal?: AbortSignal) => getFiring(this.client, signal);
  alertEvents = (request: EventsRequest, signal?: AbortSignal) => getAlertEvents(this.client, request, signal);
  rules = (signal?: AbortSignal) => getRules(this.client, signal);
  createRule = (rule: AlertRule) => createRule(this.client, rule);
  replaceRule = (id: string, rule: AlertRule) => replaceRule(this.client, id, rule);
  deleteRule = (id: string) => deleteRule(this.client, id);
  previewRule = (rule: AlertRule, request?: PreviewRequest, signal?: AbortSignal) =>
    previewRule(this.client, rule, request, signal);
  silences = (signal?: AbortSignal) => getSilences(this.client, signal);
  createSilence = (silence: NewSilence) => createSilence(this.client, silence);
  deleteSilence = (id: string) => deleteSilence(this.client, id);
  notifiers = (signal?: AbortSignal) => getNotifiers(this.client, signal);

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
    const live = parseLiveEvent(event);
    if (live === null) return;
    for (const listener of this.listeners) listener(live);
  }
}

/**
 * A stream event as the pages see it: `snapshot` and `alert` events whose
 * data parses; null for other types and malformed data (skipped: the next
 * event, or the next read, will do).
 */
export function parseLiveEvent(event: SseEvent): LiveEvent | null {
  if (event.type !== 'snapshot' && event.type !== 'alert') return null;
  let data: unknown;
  try {
    data = JSON.parse(event.data);
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) return null;
  if (event.type === 'alert') {
    if (!isAlertEvent(data)) return null;
    return { type: 'alert', event: { ...data, rule_name: data.rule_name ?? data.rule_id, message: data.message ?? '' } };
  }
  return { type: 'snapshot', snapshot: data as Snapshot };
}
