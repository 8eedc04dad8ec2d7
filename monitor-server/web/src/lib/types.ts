// The JSON shapes of the monitor-server HTTP API, as the Rust types serialize
// them (monitor-core/src/model.rs, monitor-core/src/store.rs,
// monitor-server/src/api.rs).

/** An instant: RFC 3339 text as the server writes it (numbers are accepted too, see `parseTimestamp`). */
export type Timestamp = string | number;

/** Label name → value; an empty object is the machine-wide series. */
export type Labels = Record<string, string>;

export type MetricKind = 'gauge' | 'counter';

/** `bytes`, `percent`, `seconds`, `bytes_per_second`, `count`, `` (dimensionless) or a plugin's own word. */
export type Unit = string;

/** One server of `GET /api/servers`. */
export interface ServerView {
  server_id: string;
  name: string;
  tags: string[];
  hostname: string | null;
  os: string | null;
  online: boolean;
  last_seen: Timestamp | null;
  interval_secs: number | null;
  cpu_total_percent: number | null;
  memory_used_percent: number | null;
  disk_used_percent: number | null;
  containers_running: number | null;
}

/** One bucket of a downsampled series; a missing bucket is a gap. */
export interface Point {
  t: Timestamp;
  avg: number;
  min: number;
  max: number;
  last: number;
  count: number;
}

export interface Series {
  metric: string;
  labels: Labels;
  kind: MetricKind;
  unit: Unit;
  points: Point[];
}

export type Tier = 'raw' | 'minute' | 'hour';

/** The answer of `GET /api/metrics/history`. */
export interface HistoryView {
  server_id: string;
  from: Timestamp;
  to: Timestamp;
  step_secs: number;
  tier: Tier;
  series: Series[];
}

/** One element of `GET /api/servers/{id}/series`. */
export interface SeriesInfo {
  metric: string;
  labels: Labels;
  kind: MetricKind;
  unit: Unit;
  last_value: number | null;
  last_seen: Timestamp | null;
}

/** The original system's global thresholds (`GET`/`POST /api/alerts`). */
export interface Thresholds {
  cpu_total_percent: number;
  memory_used_percent: number;
  disk_used_percent: number;
}

export interface Health {
  status: 'ok' | 'degraded';
  version: string;
  database: string;
  store: string;
}

export interface Sample {
  labels?: Labels;
  value: number;
}

export interface MetricFamily {
  name: string;
  kind?: MetricKind;
  unit?: Unit;
  help?: string;
  samples: Sample[];
}

export interface HostInfo {
  hostname: string;
  os?: string;
  kernel?: string;
  arch?: string;
  boot_time?: Timestamp;
  agent_version?: string;
}

export type ContainerState =
  | 'created'
  | 'running'
  | 'paused'
  | 'restarting'
  | 'removing'
  | 'exited'
  | 'dead'
  | 'unknown';

export type ContainerHealth = 'starting' | 'healthy' | 'unhealthy';

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  state: ContainerState;
  status?: string;
  health?: ContainerHealth;
  restart_count?: number;
  created?: Timestamp;
  started?: Timestamp;
  exit_code?: number;
  oom_killed?: boolean;
}

/** What one host reported at one instant: the `data` of a `snapshot` stream event. */
export interface Snapshot {
  version: 1;
  server_id: string;
  timestamp: Timestamp;
  interval_secs?: number;
  host?: HostInfo;
  containers?: ContainerInfo[];
  metrics: MetricFamily[];
}

/** What a token may do: `open` (the server asks no token), `read` (`MONITOR_READ_TOKEN`: every read, no write), `dashboard` (`DASHBOARD_TOKEN`) or `admin`. */
export type AccessRole = 'open' | 'read' | 'dashboard' | 'admin';

/** The answer of `GET /api/access`: the caller's token's role and what it may do. */
export interface Access {
  role: AccessRole;
  /** May change thresholds, rules and silences (and preview rules). */
  change_alerts: boolean;
  admin: boolean;
}

/** The body of every API error. */
export interface ErrorBody {
  error: string;
  message: string;
}

// ---- the alert engine (monitor-core/src/alert/mod.rs, trend.rs, store.rs,
// monitor-server/src/alerts.rs) ----

/** Where an alert stands. */
export type AlertState = 'inactive' | 'pending' | 'firing' | 'resolved';

export type Severity = 'info' | 'warning' | 'critical';

/** How a rule compares its value with its threshold. */
export type Comparison = '>' | '>=' | '<' | '<=';

/** Selects series by one label; an empty value matches a missing label. */
export interface LabelMatcher {
  name: string;
  /** `=` when absent. */
  op?: '=' | '!=';
  value: string;
}

/** What a rule compares with its threshold (the plain value when absent). */
export type RuleFunction =
  | { kind: 'value' }
  | { kind: 'increase'; window_secs: number }
  | { kind: 'seconds_until'; target: number; window_secs: number };

/** Which servers a rule applies to. */
export type RuleScope = { kind: 'all' } | { kind: 'servers'; value: string[] } | { kind: 'tag'; value: string };

/** What a rule changes for one server; absent fields keep the rule's. */
export interface RuleOverride {
  threshold?: number;
  resolve_threshold?: number;
  enabled?: boolean;
}

/** One rule of `GET /api/alerts/rules`, and the body of `POST` and `PUT`. */
export interface AlertRule {
  /** Assigned by the server when empty. */
  id: string;
  name: string;
  metric: string;
  matchers: LabelMatcher[];
  /** Absent for the plain value. */
  function?: RuleFunction;
  op: Comparison;
  threshold: number;
  resolve_threshold: number | null;
  for_secs: number;
  severity: Severity;
  scope: RuleScope;
  enabled: boolean;
  /** Server id → its override; absent when there is none. */
  overrides?: Record<string, RuleOverride>;
}

/** One alert of `GET /api/alerts/firing` (rule × server × series). */
export interface AlertStateRecord {
  rule_id: string;
  server_id: string;
  labels: Labels;
  state: AlertState;
  /** When it entered that state. */
  since: Timestamp;
  last_value: number | null;
  last_notified: Timestamp | null;
}

/** One transition of one alert: `GET /api/alerts/events` and the stream's `alert` events. */
export interface AlertEvent {
  /** Assigned by the store. */
  id: number;
  rule_id: string;
  rule_name: string;
  server_id: string;
  metric: string;
  labels: Labels;
  from: AlertState;
  state: AlertState;
  /** Absent for offline alerts and series no longer reported; null for an infinite prediction. */
  value: number | null;
  threshold: number;
  severity: Severity;
  at: Timestamp;
  /** A sentence for people. */
  message: string;
}

/** A silence of `GET /api/alerts/silences`: no notifications for what it covers until `until`. */
export interface Silence {
  id: string;
  /** Every rule when absent. */
  rule_id?: string;
  /** Every server when absent. */
  server_id?: string;
  until: Timestamp;
  comment: string;
}

/** The body of `POST /api/alerts/silences`: a rule, a server or both. */
export interface NewSilence {
  rule_id?: string;
  server_id?: string;
  until: Timestamp;
  comment?: string;
}

/** One notifier of `GET /api/alerts/notifiers`. */
export interface DeliveryStatus {
  notifier: string;
  delivered: number;
  failed: number;
  queued: number;
  last_error?: string;
  last_error_at?: Timestamp;
}

/** One server of a rule's preview: what the rule would have done on its stored history. */
export interface ServerRulePreview {
  server_id: string;
  /** The resolution the store answered with; from rollups the rule saw each bucket's max (`>`, `>=`) or min (`<`, `<=`). */
  tier: Tier;
  step_secs: number;
  /** The stored reports (or rollup buckets) evaluated; 0 when there was no data in the range. */
  reports: number;
  /** How many times an alert went to firing. */
  fired: number;
  /** Alerts still firing at `to`. */
  firing_at_end: number;
  /** The transitions, oldest first (`id` 0: not stored); at most 1000. */
  events: AlertEvent[];
  /** The transitions after the listed ones, counted only. */
  events_left_out: number;
}

/** The answer of `POST /api/alerts/preview`: a rule replayed over stored history, every alert inactive at `from`. */
export interface RulePreview {
  from: Timestamp;
  to: Timestamp;
  /** The sum of the servers' `fired`. */
  fired: number;
  /** Every server in the rule's scope (or only the one asked for). */
  servers: ServerRulePreview[];
}
