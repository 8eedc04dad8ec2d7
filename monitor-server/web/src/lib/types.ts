// The JSON shapes of the monitor-server HTTP API, by the names the
// dashboard uses. Each is a schema of docs/openapi.json, the document the
// server derives from its Rust types (monitor-server/src/api/openapi.rs);
// api-types.ts is generated from it (`npm run types`), so nothing here
// describes a shape of its own.

import type { components } from './api-types';

type Schemas = components['schemas'];

/** An instant: RFC 3339 text as the server writes it (numbers are accepted too, see `parseTimestamp`). */
export type Timestamp = Schemas['Timestamp'];
/** Label name → value; an empty object is the machine-wide series. */
export type Labels = Schemas['Labels'];
export type MetricKind = Schemas['MetricKind'];
export type Unit = Schemas['Unit'];

/** One server of `GET /api/servers`. */
export type ServerView = Schemas['ServerView'];
/** One bucket of a downsampled series; a missing bucket is a gap. */
export type Point = Schemas['Point'];
export type Series = Schemas['Series'];
export type Tier = Schemas['Tier'];
/** The answer of `GET /api/metrics/history`. */
export type HistoryView = Schemas['HistoryView'];
/** One element of `GET /api/servers/{id}/series`. */
export type SeriesInfo = Schemas['SeriesInfo'];
/** The original system's global thresholds (`GET`/`POST /api/alerts`). */
export type Thresholds = Schemas['Thresholds'];
export type Health = Schemas['Health'];

export type Sample = Schemas['Sample'];
export type MetricFamily = Schemas['MetricFamily'];
export type HostInfo = Schemas['HostInfo'];
export type ContainerState = Schemas['ContainerState'];
export type ContainerHealth = Schemas['ContainerHealth'];
export type ContainerInfo = Schemas['ContainerInfo'];
/** One process of a host's top lists (the busiest by CPU, the largest by memory). */
export type ProcessInfo = Schemas['ProcessInfo'];
/** What one host reported at one instant: the `data` of a `snapshot` stream event. */
export type Snapshot = Schemas['Snapshot'];

/** What a token may do: `open` (the server asks no token), `read`, `dashboard` or `admin`. */
export type AccessRole = Schemas['AccessRole'];
/** The answer of `GET /api/access`: the caller's token's role and what it may do. */
export type Access = Schemas['AccessView'];
/** The body of every API error. */
export type ErrorBody = Schemas['Error'];

// ---- the alert engine ----

export type AlertState = Schemas['AlertState'];
export type Severity = Schemas['Severity'];
export type Comparison = Schemas['Comparison'];
export type LabelMatcher = Schemas['LabelMatcher'];
export type RuleFunction = Schemas['RuleFunction'];
export type RuleScope = Schemas['RuleScope'];
export type RuleOverride = Schemas['RuleOverride'];
/** One rule of `GET /api/alerts/rules`, and the body of `POST` and `PUT`. */
export type AlertRule = Schemas['AlertRule'];
/** One alert of `GET /api/alerts/firing` (rule × server × series). */
export type AlertStateRecord = Schemas['AlertStateRecord'];
/** One transition of one alert: `GET /api/alerts/events` and the stream's `alert` events. */
export type AlertEvent = Schemas['AlertEvent'];
/** A silence of `GET /api/alerts/silences`. */
export type Silence = Schemas['Silence'];
/** The body of `POST /api/alerts/silences`: the server assigns the id; the comment may be left out. */
export type NewSilence = Omit<Silence, 'id' | 'comment'> & Partial<Pick<Silence, 'comment'>>;
/** One notifier of `GET /api/alerts/notifiers`. */
export type DeliveryStatus = Schemas['DeliveryStatus'];
/** One server of a rule's preview. */
export type ServerRulePreview = Schemas['ServerRulePreview'];
/** The answer of `POST /api/alerts/preview`. */
export type RulePreview = Schemas['RulePreview'];
