// Where the pages get their data: the HTTP API, or the demo generator with
// no backend at all (`?demo=1`). Pages only see this interface.

import type { ConnectionState, HistoryRequest } from './api';
import type { HistoryView, SeriesInfo, ServerView, Snapshot, Thresholds } from './types';

/** A live event of the stream. */
export type LiveEvent = { type: 'snapshot'; snapshot: Snapshot };

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
  servers(signal?: AbortSignal): Promise<ServerView[]>;
  series(serverId: string, signal?: AbortSignal): Promise<SeriesInfo[]>;
  history(request: HistoryRequest, signal?: AbortSignal): Promise<HistoryView>;
  thresholds(signal?: AbortSignal): Promise<Thresholds>;
  setThresholds(thresholds: Thresholds): Promise<Thresholds>;
  /** The backend's version, for the footer. */
  version(): Promise<string>;
  /** Live events until the returned function is called. */
  subscribe(listener: (event: LiveEvent) => void): () => void;
  /** Replaces the dashboard token and reconnects the stream. */
  setToken(token: string | null): void;
  /** Asks the backend again, to clear the banner once it answers. */
  check(): Promise<void>;
}
