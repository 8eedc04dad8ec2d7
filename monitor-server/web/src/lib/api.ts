// The HTTP API client: one typed function per endpoint, over a client that
// adds the dashboard token and reports whether the backend answers (for the
// red banner).

import type {
  Access,
  AlertEvent,
  AlertRule,
  AlertStateRecord,
  DeliveryStatus,
  ErrorBody,
  Health,
  HistoryView,
  NewSilence,
  RulePreview,
  SeriesInfo,
  ServerView,
  Silence,
  Thresholds,
  Timestamp,
} from './types';
import type { operations } from './api-types';

/** The query parameters of an operation of docs/openapi.json (by its operationId). */
type QueryOf<K extends keyof operations> = NonNullable<operations[K]['parameters']['query']>;

/** Header carrying the dashboard's read token. */
export const DASHBOARD_HEADER = 'X-Dashboard-Token';

/** How the backend answered the last request, as the banner shows it. */
export type ConnectionState = 'ok' | 'unreachable' | 'unauthorized';

/** A failed request: `status` 0 when the server could not be reached. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ClientOptions {
  /** Prefix of every path (`` for the page's own origin). */
  base?: string;
  /** The dashboard token, read at each request. */
  token: () => string | null;
  /** Told the outcome of each request. */
  onState?: (state: ConnectionState, detail: string) => void;
  fetch?: typeof fetch;
}

type QueryValue = string | number | undefined;

/** `?a=1&b=x` from the defined values, or `` when there are none. */
export function queryString(params: Record<string, QueryValue>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) search.set(key, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

export class ApiClient {
  private readonly base: string;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.base = options.base ?? '';
    this.doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The headers every read needs (the token when there is one). */
  authHeaders(): Record<string, string> {
    const token = this.options.token();
    return token ? { [DASHBOARD_HEADER]: token } : {};
  }

  /** The absolute path of an API path. */
  url(path: string): string {
    return `${this.base}${path}`;
  }

  /**
   * Sends a request and decodes the JSON answer. 401 (a token missing or
   * wrong) reports `unauthorized`, 5xx and network failures `unreachable`,
   * anything else `ok` (a 400 is this page's mistake, not the backend's
   * state). A 403 is this request's refusal, not the token's: the read
   * token's `insufficient_scope` on a write, `host_not_allowed`,
   * `cross_origin`; it throws the server's code and message like any other
   * 4xx.
   */
  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    init: {
      query?: Record<string, QueryValue>;
      body?: unknown;
      signal?: AbortSignal;
      /** Reports nothing: for endpoints without auth, whose success says nothing about the token. */
      quiet?: boolean;
    } = {},
  ): Promise<T> {
    const report = (state: ConnectionState, detail: string) => {
      if (!init.quiet) this.options.onState?.(state, detail);
    };
    const headers: Record<string, string> = { Accept: 'application/json', ...this.authHeaders() };
    const request: RequestInit = { method, headers, cache: 'no-store' };
    if (init.signal) request.signal = init.signal;
    if (init.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      request.body = JSON.stringify(init.body);
    }
    let response: Response;
    try {
      response = await this.doFetch(this.url(path) + queryString(init.query ?? {}), request);
    } catch (error) {
      if (isAbort(error)) throw error;
      report('unreachable', 'no answer');
      throw new ApiError(0, 'unreachable', 'The server cannot be reached.');
    }
    if (response.status === 401) {
      report('unauthorized', `HTTP ${response.status}`);
      throw new ApiError(response.status, 'unauthorized', 'Missing or invalid dashboard token.');
    }
    if (response.status >= 500) {
      report('unreachable', `HTTP ${response.status}`);
      throw new ApiError(response.status, 'unavailable', (await errorBody(response)).message);
    }
    report('ok', '');
    if (!response.ok) {
      const body = await errorBody(response, response.status === 403 ? 'forbidden' : 'error');
      throw new ApiError(response.status, body.error, body.message);
    }
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }
}

/** The code and message of an error answer; `code` when its body has none. */
async function errorBody(response: Response, code = 'error'): Promise<ErrorBody> {
  try {
    const body = (await response.json()) as Partial<ErrorBody>;
    return {
      error: typeof body.error === 'string' ? body.error : code,
      message: typeof body.message === 'string' ? body.message : `HTTP ${response.status}`,
    };
  } catch {
    return { error: code, message: `HTTP ${response.status}` };
  }
}

/** Query of `GET /api/metrics/history`; times in Unix seconds. */
export interface HistoryRequest {
  serverId: string;
  /** One metric; without it the server answers cpu_usage_percent, memory_used_percent and filesystem_used_percent. */
  metric?: string;
  /** Label matchers, comma separated: `cpu="3"`, `mountpoint!="/boot"`. */
  match?: string;
  from: number;
  to: number;
  /** At most this many buckets per series (the chart's width in pixels). */
  points?: number;
  /** A fixed bucket width in seconds instead of `points`. */
  step?: number;
}

/** Unix seconds as the API reads them, to the millisecond. */
function seconds(t: number): string {
  return String(Math.round(t * 1000) / 1000);
}

/** The health check; it needs no token, so it leaves the banner alone. */
export function getHealth(client: ApiClient, signal?: AbortSignal): Promise<Health> {
  return client.request<Health>('GET', '/api/health', { signal, quiet: true });
}

/**
 * What the caller's token may do. It reports nothing (its failure alone
 * shows no banner: the other reads do); a server from before roles answers
 * 404 (`learnAccess` in access.ts decides what the page then assumes).
 */
export function getAccess(client: ApiClient, signal?: AbortSignal): Promise<Access> {
  return client.request<Access>('GET', '/api/access', { signal, quiet: true });
}

export function getServers(client: ApiClient, signal?: AbortSignal): Promise<ServerView[]> {
  return client.request<ServerView[]>('GET', '/api/servers', { signal });
}

export function getServerSeries(
  client: ApiClient,
  serverId: string,
  signal?: AbortSignal,
): Promise<SeriesInfo[]> {
  return client.request<SeriesInfo[]>(
    'GET',
    `/api/servers/${encodeURIComponent(serverId)}/series`,
    { signal },
  );
}

export function getHistory(
  client: ApiClient,
  q: HistoryRequest,
  signal?: AbortSignal,
): Promise<HistoryView> {
  return client.request<HistoryView>('GET', '/api/metrics/history', {
    signal,
    query: {
      server_id: q.serverId,
      metric: q.metric,
      match: q.match,
      from: seconds(q.from),
      to: seconds(q.to),
      points: q.step === undefined ? q.points : undefined,
      step: q.step,
    } satisfies QueryOf<'history'>,
  });
}

export function getThresholds(client: ApiClient, signal?: AbortSignal): Promise<Thresholds> {
  return client.request<Thresholds>('GET', '/api/alerts', { signal });
}

export function setThresholds(client: ApiClient, thresholds: Thresholds): Promise<Thresholds> {
  return client.request<Thresholds>('POST', '/api/alerts', { body: thresholds });
}

/** Every alert firing now. */
export function getFiring(client: ApiClient, signal?: AbortSignal): Promise<AlertStateRecord[]> {
  return client.request<AlertStateRecord[]>('GET', '/api/alerts/firing', { signal });
}

/** Query of `GET /api/alerts/events`; `since` in Unix seconds. */
export interface EventsRequest {
  serverId?: string;
  ruleId?: string;
  since?: number;
  /** The next page: the events after the one of this id (the last of the page before); an unknown id answers none. */
  before?: number;
  /** At most this many (the server's default is 100, its maximum 10,000). */
  limit?: number;
}

/** Alert transitions, newest first. */
export function getAlertEvents(client: ApiClient, q: EventsRequest = {}, signal?: AbortSignal): Promise<AlertEvent[]> {
  return client.request<AlertEvent[]>('GET', '/api/alerts/events', {
    signal,
    query: {
      server_id: q.serverId || undefined,
      rule_id: q.ruleId || undefined,
      since: q.since === undefined ? undefined : seconds(q.since),
      before: q.before,
      limit: q.limit,
    } satisfies QueryOf<'alert_events'>,
  });
}

/** The rules in force: the three thresholds, the built-in rules and the stored ones. */
export function getRules(client: ApiClient, signal?: AbortSignal): Promise<AlertRule[]> {
  return client.request<AlertRule[]>('GET', '/api/alerts/rules', { signal });
}

/** Adds a rule (422 `invalid_rule` with the reason, 409 `rule_exists` for a taken id). */
export function createRule(client: ApiClient, rule: AlertRule): Promise<AlertRule> {
  return client.request<AlertRule>('POST', '/api/alerts/rules', { body: rule });
}

/** Query of `POST /api/alerts/preview`; numbers are Unix seconds, text RFC 3339. */
export interface PreviewRequest {
  /** Default: 24 h before `to`. */
  from?: Timestamp;
  /** Default: now. */
  to?: Timestamp;
  /** Only this server (404 `not_found` for an unknown one); default every server in the rule's scope. */
  serverId?: string;
}

/** An instant of a query: Unix seconds to the millisecond, or the text as given. */
function instant(t: Timestamp | undefined): string | undefined {
  if (t === undefined) return undefined;
  return typeof t === 'number' ? seconds(t) : t;
}

/** The path of the preview (monitor-server/src/api.rs). */
export const PREVIEW_PATH = '/api/alerts/preview';

/**
 * What a rule (the body of `POST /api/alerts/rules`; an empty `id` is
 * fine) would have done on the stored history; stores nothing. 422
 * `invalid_rule` or `not_previewable` (a host-offline rule), 400
 * `invalid_time` or `invalid_range` (over 31 days), 404 for an unknown server.
 */
export function previewRule(
  client: ApiClient,
  rule: AlertRule,
  q: PreviewRequest = {},
  signal?: AbortSignal,
): Promise<RulePreview> {
  return client.request<RulePreview>('POST', PREVIEW_PATH, {
    signal,
    body: rule,
    query: {
      from: instant(q.from),
      to: instant(q.to),
      server_id: q.serverId || undefined,
    } satisfies QueryOf<'preview_alert_rule'>,
  });
}

/** Replaces a rule by id; for a built-in id, stores a rule that takes its place. */
export function replaceRule(client: ApiClient, id: string, rule: AlertRule): Promise<AlertRule> {
  return client.request<AlertRule>('PUT', `/api/alerts/rules/${encodeURIComponent(id)}`, { body: { ...rule, id } });
}

/** Deletes a stored rule (a built-in rule it replaced comes back). */
export function deleteRule(client: ApiClient, id: string): Promise<void> {
  return client.request<void>('DELETE', `/api/alerts/rules/${encodeURIComponent(id)}`);
}

/** The silences not yet over. */
export function getSilences(client: ApiClient, signal?: AbortSignal): Promise<Silence[]> {
  return client.request<Silence[]>('GET', '/api/alerts/silences', { signal });
}

/** Creates a silence (422 `invalid_silence` with the reason). */
export function createSilence(client: ApiClient, silence: NewSilence): Promise<Silence> {
  return client.request<Silence>('POST', '/api/alerts/silences', { body: silence });
}

/** Ends a silence now. */
export function deleteSilence(client: ApiClient, id: string): Promise<void> {
  return client.request<void>('DELETE', `/api/alerts/silences/${encodeURIComponent(id)}`);
}

/** Each notifier's deliveries: delivered, failed, queued, the last error. */
export function getNotifiers(client: ApiClient, signal?: AbortSignal): Promise<DeliveryStatus[]> {
  return client.request<DeliveryStatus[]>('GET', '/api/alerts/notifiers', { signal });
}
