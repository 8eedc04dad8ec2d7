//! The server's `/metrics` for Prometheus: the newest values of every host
//! that reports (label `server_id`, plus each metric's own labels), whether
//! each registered host is up, and the server's own health.
//!
//! | metric | type | what |
//! | --- | --- | --- |
//! | `monitor_host_up{server_id}` | gauge | 1 while the host reports (no report missed for three intervals, at least 30 s), else 0 |
//! | `monitor_host_last_report_timestamp_seconds{server_id}` | gauge | when its newest report was taken |
//! | `monitor_ingest_requests_total{outcome}` | counter | `POST /api/metrics` calls: `accepted`, `invalid`, `unauthorized`, `rate_limited`, `unavailable` (503: load shed, store unreachable), `error` |
//! | `monitor_ingest_snapshots_total`, `monitor_ingest_samples_total` | counter | what accepted calls carried |
//! | `monitor_ingest_duration_seconds` | histogram | one accepted call, from its head to its durable acknowledgement |
//! | `monitor_store_commit_duration_seconds` | histogram | one ingest transaction of the store's writer |
//! | `monitor_store_failed_commits_total`, `monitor_store_reports_total` | counter | failed transactions; reports stored |
//! | `monitor_store_corrupt_rows_total` | counter | damaged rows left out of compaction (logged with their key) |
//! | `monitor_store_series_refused_total` | counter | reports refused for the per-server series limit (`limits.max_series_per_server`) |
//! | `monitor_store_queue_depth`, `monitor_store_queue_capacity` | gauge | calls waiting for the writer; how many may |
//! | `monitor_scrape_render_duration_seconds` | histogram | one render of `/metrics`; scrapes that arrive during one share it |
//! | `monitor_ingest_bytes_in_flight`, `monitor_ingest_bytes_in_flight_limit` | gauge | inflated bytes of the ingest bodies being decoded and stored; the budget (`limits.ingest_bytes_in_flight`) beyond which ingest answers 503 `overloaded` |
//! | `monitor_stream_clients` | gauge | live-stream (`/api/stream`) clients connected |
//! | `monitor_alerts_firing` | gauge | alerts firing now |
//! | `monitor_notifications_delivered_total{notifier}`, `monitor_notifications_failed_total{notifier}` | counter | notifications delivered; given up on |
//! | `monitor_notifications_queued{notifier}` | gauge | notifications waiting in the outbox, being retried included |
//! | `monitor_notifications_oldest_queued_age_seconds{notifier}` | gauge | how long the oldest of them has waited (0 when none) |
//! | `monitor_build_info{version,revision}` | gauge | always 1; `revision` is the commit of the build |
//! | `process_*` | | the server process: CPU seconds, resident memory, open files |
//!
//! Hosts that stopped reporting keep `monitor_host_up 0` but their values
//! are left out, so that Prometheus does not chart a stale value as current.

use std::sync::Arc;
use std::time::{Duration, Instant};

use monitor_collectors::export::prometheus::{Render, encode, family};
use monitor_core::{MetricKind, Snapshot, Timestamp};
use monitor_store::stats::WriterStats;
use prometheus::proto::{Bucket, Histogram as HistogramProto, Metric, MetricFamily, MetricType};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use crate::error::ApiError;

/// Where the server's writer figures come from (the SQL store's
/// [`monitor_store::SqlStore::stats`]).
pub type StoreStats = Arc<dyn Fn() -> WriterStats + Send + Sync>;

/// How a `POST /api/metrics` call ended, as `monitor_ingest_requests_total`
/// counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (duplicates included).
    Accepted,
    /// Refused for its content (4xx other than below).
    Invalid,
    /// A missing or wrong token, or a snapshot for another server.
    Unauthorized,
    /// Over the token's ingest rate (429).
    RateLimited,
    /// Shed with 503 and `Retry-After`: the ingest budget was full or the
    /// store unreachable; the agent keeps the batch and retries.
    Unavailable,
    /// The server failed (another 5xx).
    Error,
}

impl Outcome {
    /// The outcome of a response with this status.
    pub fn of(status: axum::http::StatusCode) -> Self {
        match status.as_u16() {
            200..=299 => Outcome::Accepted,
            401 | 403 => Outcome::Unauthorized,
            429 => Outcome::RateLimited,
            400..=499 => Outcome::Invalid,
            503 => Outcome::Unavailable,
            _ => Outcome::Error,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Invalid => "invalid",
            Outcome::Unauthorized => "unauthorized",
            Outcome::RateLimited => "rate_limited",
            Outcome::Unavailable => "unavailable",
            Outcome::Error => "error",
        }
    }
}

/// The server's own counters, and the registry they live in.
pub struct ServerMetrics {
    registry: Registry,
    requests: IntCounterVec,
    snapshots: IntCounter,
    samples: IntCounter,
    duration: Histogram,
    renders: Histogram,
}

impl std::fmt::Debug for ServerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMetrics").finish_non_exhaustive()
    }
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Buckets of the latency histograms, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

impl ServerMetrics {
    /// Fresh counters, with the process collector registered (Linux).
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "monitor_ingest_requests_total",
                "POST /api/metrics calls, by outcome.",
            ),
            &["outcome"],
        )
        .unwrap_or_else(|_| unreachable!("valid literal options"));
        let snapshots = IntCounter::new(
            "monitor_ingest_snapshots_total",
            "Snapshots in accepted POST /api/metrics calls (duplicates included).",
        )
        .unwrap_or_else(|_| unreachable!("valid literal options"));
        let samples = IntCounter::new(
            "monitor_ingest_samples_total",
            "Samples in accepted POST /api/metrics calls.",
        )
        .unwrap_or_else(|_| unreachable!("valid literal options"));
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "monitor_ingest_duration_seconds",
                "One accepted POST /api/metrics call, from its head to its durable acknowledgement.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .unwrap_or_else(|_| unreachable!("valid literal options"));
        let renders = Histogram::with_opts(
            HistogramOpts::new(
                "monitor_scrape_render_duration_seconds",
                "One render of GET /metrics (scrapes that arrive while one is being rendered share it).",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .unwrap_or_else(|_| unreachable!("valid literal options"));
        for outcome in [
            Outcome::Accepted,
            Outcome::Invalid,
            Outcome::Unauthorized,
            Outcome::RateLimited,
            Outcome::Unavailable,
            Outcome::Error,
        ] {
            requests.with_label_values(&[outcome.label()]);
        }
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(requests.clone()),
            Box::new(snapshots.clone()),
            Box::new(samples.clone()),
            Box::new(duration.clone()),
            Box::new(renders.clone()),
            #[cfg(target_os = "linux")]
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ];
        for collector in collectors {
            if let Err(error) = registry.register(collector) {
                tracing::warn!(%error, "A server metric could not be registered.");
            }
        }
        ServerMetrics {
            registry,
            requests,
            snapshots,
            samples,
            duration,
            renders,
        }
    }

    /// Counts one render of `/metrics`.
    pub fn rendered(&self, took: Duration) {
        self.renders.observe(took.as_secs_f64());
    }

    /// Counts one `POST /api/metrics` call.
    pub fn ingest(&self, outcome: Outcome, took: Duration, snapshots: usize, samples: usize) {
        self.requests.with_label_values(&[outcome.label()]).inc();
        if outcome == Outcome::Accepted {
            self.snapshots.inc_by(snapshots as u64);
            self.samples.inc_by(samples as u64);
            self.duration.observe(took.as_secs_f64());
        }
    }

    /// The families of the server's own registry.
    pub fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }
}

/// One render of `/metrics` at a time: a scrape that arrives while one is
/// being rendered waits for it and answers the same text.
///
/// A render holds the whole exposition for a moment (with 10,000 hosts
/// reporting, 540,000 samples: over 300 MB), so scrapes each rendering
/// their own let a few dozen at once exhaust the server's memory. The
/// render runs on a task of its own, so a scraper that goes away does not
/// cancel it for the others, and is dropped with its text once the last
/// scraper has its answer.
#[derive(Default)]
pub struct Renders {
    current: std::sync::Mutex<Option<WeakShared<RenderFuture>>>,
}

type RenderFuture = futures_util::future::BoxFuture<'static, Result<axum::body::Bytes, ApiError>>;
type WeakShared<F> = futures_util::future::WeakShared<F>;

impl std::fmt::Debug for Renders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renders").finish_non_exhaustive()
    }
}

impl Renders {
    /// The answer of the render under way, or of `render` started now.
    pub async fn get<F>(&self, render: F) -> Result<axum::body::Bytes, ApiError>
    where
        F: Future<Output = Result<axum::body::Bytes, ApiError>> + Send + 'static,
    {
        use futures_util::FutureExt;
        let shared = {
            let mut current = self
                .current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match current.as_ref().and_then(WeakShared::upgrade) {
                Some(shared) => shared,
                None => {
                    let task = tokio::spawn(render);
                    let future: RenderFuture = async move {
                        task.await.unwrap_or_else(|error| {
                            tracing::error!(%error, "The /metrics render failed.");
                            Err(ApiError::new(
                                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                                "internal",
                                "internal error; see the server's log",
                            ))
                        })
                    }
                    .boxed();
                    let shared = future.shared();
                    *current = shared.downgrade();
                    shared
                }
            }
        };
        shared.await
    }
}

/// A registered host as `/metrics` sees it.
#[derive(Debug, Clone)]
pub struct HostStatus {
    /// Its id.
    pub server_id: String,
    /// Whether it reports.
    pub online: bool,
    /// When its newest report was taken.
    pub last_seen: Option<Timestamp>,
}

/// Everything `/metrics` shows, gathered by the handler.
pub struct Exposition<'a> {
    /// Registered hosts.
    pub hosts: &'a [HostStatus],
    /// The newest snapshot of each host that reports.
    pub snapshots: &'a [Arc<Snapshot>],
    /// The server's counters.
    pub metrics: &'a ServerMetrics,
    /// The store writer's figures, when the store keeps them.
    pub store: Option<WriterStats>,
    /// Bytes of ingest bodies in progress, and the budget for them.
    pub ingest_in_flight: (usize, usize),
    /// Live-stream clients.
    pub stream_clients: usize,
    /// Alerts firing, when alerts are evaluated.
    pub alerts_firing: Option<usize>,
    /// Each notifier's deliveries.
    pub deliveries: &'a [crate::alerts::DeliveryStatus],
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn scalar(name: &str, help: &str, kind: MetricKind, value: f64) -> MetricFamily {
    family(name, help, kind, [(Vec::new(), value)])
}

fn histogram(name: &str, help: &str, h: &monitor_store::stats::Histogram) -> MetricFamily {
    let mut proto = HistogramProto::default();
    proto.set_sample_count(h.count);
    proto.set_sample_sum(h.sum_seconds);
    proto.set_bucket(
        h.buckets
            .iter()
            .map(|(bound, count)| {
                let mut b = Bucket::default();
                b.set_upper_bound(*bound);
                b.set_cumulative_count(*count);
                b
            })
            .collect(),
    );
    let mut metric = Metric::default();
    metric.set_histogram(proto);
    let mut out = MetricFamily::default();
    out.set_name(name.to_owned());
    out.set_help(help.to_owned());
    out.set_field_type(MetricType::HISTOGRAM);
    out.set_metric(vec![metric]);
    out
}

impl Exposition<'_> {
    /// The text exposition, and how long making it took.
    pub fn render(&self) -> (String, Duration) {
        let started = Instant::now();
        let agents = Render { server_label: true }.families(self.snapshots.iter().map(|s| &**s));
        let own = self.own_families();
        let (mut families, clashes) = without_clashes(agents, &own);
        if !clashes.is_empty() {
            tracing::debug!(
                ?clashes,
                "Agent metrics named like the server's own were left out of /metrics."
            );
        }
        families.extend(own);
        let text = encode(&families);
        (text, started.elapsed())
    }

    /// The server's own families: hosts up, its counters, the store's,
    /// the stream's, the alerts'.
    fn own_families(&self) -> Vec<MetricFamily> {
        let mut families = Vec::new();
        families.push(family(
            "monitor_host_up",
            "1 while the host reports (no report missed for three intervals, at least 30 s), else 0.",
            MetricKind::Gauge,
            self.hosts.iter().map(|h| {
                (
                    labels(&[("server_id", &h.server_id)]),
                    if h.online { 1.0 } else { 0.0 },
                )
            }),
        ));
        families.push(family(
            "monitor_host_last_report_timestamp_seconds",
            "When the host's newest report was taken, as Unix seconds.",
            MetricKind::Gauge,
            self.hosts.iter().filter_map(|h| {
                Some((
                    labels(&[("server_id", &h.server_id)]),
                    h.last_seen?.as_secs_f64(),
                ))
            }),
        ));
        families.extend(self.metrics.gather());
        if let Some(store) = &self.store {
            families.push(histogram(
                "monitor_store_commit_duration_seconds",
                "One ingest transaction of the store's writer, from its first statement to its commit.",
                &store.commits,
            ));
            families.push(scalar(
                "monitor_store_failed_commits_total",
                "Ingest transactions that failed.",
                MetricKind::Counter,
                store.failed_commits as f64,
            ));
            families.push(scalar(
                "monitor_store_reports_total",
                "Reports stored (duplicates not counted).",
                MetricKind::Counter,
                store.reports as f64,
            ));
            families.push(scalar(
                "monitor_store_corrupt_rows_total",
                "Rows of the database that could not be read and were left out of compaction (their data is lost).",
                MetricKind::Counter,
                store.corrupt_rows as f64,
            ));
            families.push(scalar(
                "monitor_store_series_refused_total",
                "Reports refused because they would take their server past limits.max_series_per_server.",
                MetricKind::Counter,
                store.series_refused as f64,
            ));
            families.push(scalar(
                "monitor_store_queue_depth",
                "Calls waiting for the store's writer.",
                MetricKind::Gauge,
                store.queue_depth as f64,
            ));
            families.push(scalar(
                "monitor_store_queue_capacity",
                "Calls that may wait for the store's writer before callers wait to queue.",
                MetricKind::Gauge,
                store.queue_capacity as f64,
            ));
        }
        families.push(scalar(
            "monitor_ingest_bytes_in_flight",
            "Inflated bytes of the ingest bodies being decoded and stored now.",
            MetricKind::Gauge,
            self.ingest_in_flight.0 as f64,
        ));
        families.push(scalar(
            "monitor_ingest_bytes_in_flight_limit",
            "The budget for them (limits.ingest_bytes_in_flight): beyond it, ingest waits, then answers 503 overloaded.",
            MetricKind::Gauge,
            self.ingest_in_flight.1 as f64,
        ));
        families.push(scalar(
            "monitor_stream_clients",
            "Live-stream (/api/stream) clients connected.",
            MetricKind::Gauge,
            self.stream_clients as f64,
        ));
        if let Some(firing) = self.alerts_firing {
            families.push(scalar(
                "monitor_alerts_firing",
                "Alerts firing now.",
                MetricKind::Gauge,
                firing as f64,
            ));
        }
        if !self.deliveries.is_empty() {
            let per = |value: fn(&crate::alerts::DeliveryStatus) -> u64| {
                self.deliveries
                    .iter()
                    .map(move |d| (labels(&[("notifier", &d.notifier)]), value(d) as f64))
            };
            families.push(family(
                "monitor_notifications_delivered_total",
                "Notifications delivered, by notifier.",
                MetricKind::Counter,
                per(|d| d.delivered),
            ));
            families.push(family(
                "monitor_notifications_failed_total",
                "Notifications given up on (refused, or still failing after alerts.retry_for), by notifier.",
                MetricKind::Counter,
                per(|d| d.failed),
            ));
            families.push(family(
                "monitor_notifications_queued",
                "Notifications waiting in the outbox (being retried included), by notifier.",
                MetricKind::Gauge,
                per(|d| d.queued),
            ));
            let now = Timestamp::now();
            families.push(family(
                "monitor_notifications_oldest_queued_age_seconds",
                "How long the oldest notification in the outbox has waited (0 when none), by notifier.",
                MetricKind::Gauge,
                self.deliveries.iter().map(move |d| {
                    let age = d.oldest_queued.map_or(0, |t| {
                        (now.as_millis() - t.as_millis()).max(0)
                    });
                    (labels(&[("notifier", &d.notifier)]), age as f64 / 1000.0)
                }),
            ));
        }
        families.push(family(
            "monitor_build_info",
            "The server's version and the commit it was built from; always 1.",
            MetricKind::Gauge,
            [(
                labels(&[
                    ("version", env!("CARGO_PKG_VERSION")),
                    ("revision", crate::COMMIT),
                ]),
                1.0,
            )],
        ));
        families
    }
}

/// `agents` without the families whose name is one of the server's own,
/// or one of the series names those make (`_bucket`, `_sum`, `_count` of a
/// histogram, `_total` and `_created` of a counter): Prometheus refuses a
/// whole scrape with a metric named twice, so an agent reporting
/// `monitor_host_up` would have broken every host's metrics. Also the
/// names left out.
fn without_clashes(
    agents: Vec<MetricFamily>,
    own: &[MetricFamily],
) -> (Vec<MetricFamily>, Vec<String>) {
    let mut taken = std::collections::HashSet::new();
    for f in own {
        let name = f.name();
        taken.insert(name.to_owned());
        for suffix in ["_bucket", "_sum", "_count", "_total", "_created", "_info"] {
            taken.insert(format!("{name}{suffix}"));
        }
        for suffix in ["_total", "_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix) {
                taken.insert(base.to_owned());
            }
        }
    }
    let mut clashes = Vec::new();
    let kept = agents
        .into_iter()
        .filter(|f| {
            let clash = taken.contains(f.name());
            if clash {
                clashes.push(f.name().to_owned());
            }
            !clash
        })
        .collect();
    (kept, clashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_metrics_named_like_the_servers_own_are_left_out() {
        let mut c = monitor_core::Collection::new();
        for name in [
            "monitor_host_up",
            "monitor_ingest_duration_seconds_bucket",
            "monitor_ingest_requests",
            "process_cpu_seconds_total",
            "monitor_host_up_extra",
        ] {
            c.gauge(
                name,
                monitor_core::Unit::NONE,
                monitor_core::Labels::new(),
                7.0,
            );
        }
        let snapshot = Arc::new(Snapshot::new(
            monitor_core::ServerId::new("srv-01").unwrap_or_else(|e| panic!("{e}")),
            Timestamp::now(),
            c,
        ));
        let metrics = ServerMetrics::new();
        let hosts = [HostStatus {
            server_id: "srv-01".into(),
            online: true,
            last_seen: Some(Timestamp::now()),
        }];
        let (text, _) = Exposition {
            hosts: &hosts,
            snapshots: &[snapshot],
            metrics: &metrics,
            store: None,
            ingest_in_flight: (0, 1 << 20),
            stream_clients: 0,
            alerts_firing: None,
            deliveries: &[],
        }
        .render();
        for name in [
            "monitor_host_up",
            "monitor_ingest_duration_seconds_bucket",
            "monitor_ingest_requests",
        ] {
            let types = text.matches(&format!("# TYPE {name} ")).count();
            assert!(types <= 1, "{name} twice:\n{text}");
            assert!(
                !text.contains(&format!("{name}{{server_id=\"srv-01\"}} 7\n")),
                "{name} of the agent is in:\n{text}"
            );
        }
        assert!(
            text.contains("monitor_host_up_extra{server_id=\"srv-01\"} 7"),
            "{text}"
        );
    }
}
