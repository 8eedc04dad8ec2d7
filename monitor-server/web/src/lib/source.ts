// Where the pages get their data: the HTTP API, or demo mode (src/demo/) with
// no backend at all (`?demo=1`). Pages only see this interface.

import type { ConnectionState, EventsRequest, HistoryRequest, PreviewRequest } from './api';
import type {
  Access,
  AlertEvent,
  AlertRule,
  AlertStateRecord,
  DeliveryStatus,
  HistoryView,
  NewSilence,
  RulePreview,
  SeriesInfo,
  ServerView,
  Silence,
  Snapshot,
  Thresholds,
} from './types';

/** A live event of the stream: a host's snapshot, or an alert's transition. */
export type LiveEvent = { type: 'snapshot'; snapshot: Snapshot } | { type: 'alert'; event: AlertEvent };

export interface Connection {
  state: ConnectionState;
  /** What failed, for the banner (`HTTP 503`, `no answer`). */
  detail: string;
}

/** A tiny observable of the connection state (for useSyncExternalStore). */
export class ConnectionStore {
  private current: Connection = { state: 'ok', detail: '' };
  private readonly listeners = new Set<() => void>();

  get = (): Connection => this.current;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  set(state: ConnectionState, detail = ''): void {
    if (state === this.current.state && detail === this.current.detail) return;
    this.current = { state, detail };
    for (const listener of this.listeners) listener();
  }
}

export interface DataSource {
  /** True for the synthetic data of `?demo=1`. */
  readonly demo: boolean;
  readonly connection: ConnectionStore;
  /** What the caller's token may do (`GET /api/access`); reports nothing to the connection state. */
  access(signal?: AbortSignal): Promise<Access>;
  servers(signal?: AbortSignal): Promise<ServerView[]>;
  series(serverId: string, signal?: AbortSignal): Promise<SeriesInfo[]>;
  history(request: HistoryRequest, signal?: AbortSignal): Promise<HistoryView>;
  thresholds(signal?: AbortSignal): Promise<Thresholds>;
  setThresholds(thresholds: Thresholds): Promise<Thresholds>;
  /** The alerts firing now. */
  firing(signal?: AbortSignal): Promise<AlertStateRecord[]>;
  /** Alert transitions, newest first. */
  alertEvents(request: EventsRequest, signal?: AbortSignal): Promise<AlertEvent[]>;
  /** The rules in force. */
  rules(signal?: AbortSignal): Promise<AlertRule[]>;
  createRule(rule: AlertRule): Promise<AlertRule>;
  replaceRule(id: string, rule: AlertRule): Promise<AlertRule>;
  deleteRule(id: string): Promise<void>;
  /** What a rule would have done on the stored history (default: the last 24 h); stores nothing. */
  previewRule(rule: AlertRule, request?: PreviewRequest, signal?: AbortSignal): Promise<RulePreview>;
  /** The silences not yet over. */
  silences(signal?: AbortSignal): Promise<Silence[]>;
  createSilence(silence: NewSilence): Promise<Silence>;
  deleteSilence(id: string): Promise<void>;
  /** Each notifier's deliveries (empty when none is configured). */
  notifiers(signal?: AbortSignal): Promise<DeliveryStatus[]>;
  /** The backend's version, for the footer. */
  version(): Promise<string>;
  /** Live events until the returned function is called. */
  subscribe(listener: (event: LiveEvent) => void): () => void;
  /** Replaces the dashboard token and reconnects the stream. */
  setToken(token: string | null): void;
  /** Asks the backend again, to clear the banner once it answers. */
  check(): Promise<void>;
}
