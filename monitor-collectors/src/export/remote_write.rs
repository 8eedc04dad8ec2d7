//! The Prometheus remote-write exporter (feature `remote-write`): every
//! snapshot it is given, each sample with the snapshot's own timestamp, to
//! any receiver of the [remote write 1.0] protocol (Prometheus started with
//! `--web.enable-remote-write-receiver`, Mimir, Thanos Receive,
//! VictoriaMetrics, Cortex, an OpenTelemetry Collector's
//! `prometheusremotewrite` receiver…).
//!
//! Each series is the family's name as `__name__` (a built-in metric's
//! Prometheus name, as the `/metrics` endpoints expose it:
//! `monitor_memory_used_ratio` for `memory_used_percent`, see
//! [`monitor_core::names::prometheus`]), the report's server as
//! `server_id`, and the sample's labels (a sample label named `server_id`
//! becomes `exported_server_id`, as Prometheus renames clashing labels).
//! Requests are a snappy-compressed protobuf `WriteRequest` of at most
//! [`RemoteWriteConfig::max_samples_per_request`] samples, sent one at a
//! time in the order the snapshots came, so that every series' samples
//! arrive in order: a failed request is sent again, with exponential
//! backoff, while the receiver answers that it may take it later
//! (unreachable, a timeout, 5xx, 429 after its `Retry-After`), and dropped
//! with a warning when it refuses it for good (any other 4xx, such as
//! Prometheus's answer to samples older than what it holds for a series).
//! While the receiver is down, up to [`RemoteWriteConfig::capacity`]
//! snapshots wait in memory; beyond that the oldest are dropped and
//! counted ([`RemoteWriteExporter::stats`]).
//!
//! ```no_run
//! use monitor_collectors::export::remote_write::{RemoteWriteConfig, RemoteWriteExporter};
//!
//! let config = RemoteWriteConfig::new("http://127.0.0.1:9090/api/v1/write");
//! let exporter = RemoteWriteExporter::new(config)?;
//! # Ok::<(), monitor_core::ExportError>(())
//! ```
//!
//! [remote write 1.0]: https://prometheus.io/docs/specs/prw/remote_write_spec/

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use monitor_core::{ExportError, Exporter, Snapshot, names};
use prost::Message;

use super::DeliveryStats;
use super::delivery::{Attempt, Delivery, Limits, Transport};

/// Where and how to send.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWriteConfig {
    /// The receiver's URL (`http://127.0.0.1:9090/api/v1/write`).
    pub url: String,
    /// Headers sent with every request (`Authorization`, Mimir's
    /// `X-Scope-OrgID`).
    pub headers: Vec<(String, String)>,
    /// A CA certificate (PEM) to verify an https receiver with, instead of
    /// the system's roots.
    pub verify: Option<PathBuf>,
    /// The time one request may take.
    pub timeout: Duration,
    /// The most samples in one request (Prometheus sends 2,000).
    pub max_samples_per_request: usize,
    /// Snapshots held in memory while the receiver is down.
    pub capacity: usize,
    /// The first wait after a failed request; it doubles up to
    /// `max_backoff` (Prometheus: 30 ms and 5 s).
    pub min_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How long `flush` (at shutdown) waits for what is queued.
    pub flush_deadline: Duration,
}

impl RemoteWriteConfig {
    /// Defaults for `url`: 30 s timeout, 2,000 samples a request, 10,000
    /// snapshots held, backoff from 30 ms to 5 s, 10 s to flush.
    pub fn new(url: impl Into<String>) -> Self {
        RemoteWriteConfig {
            url: url.into(),
            headers: Vec::new(),
            verify: None,
            timeout: Duration::from_secs(30),
            max_samples_per_request: 2_000,
            capacity: 10_000,
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            flush_deadline: Duration::from_secs(10),
        }
    }
}

/// Sends every snapshot to a remote-write receiver (see the module docs).
#[derive(Debug)]
pub struct RemoteWriteExporter {
    delivery: Delivery<Client>,
    flush_deadline: Duration,
}

impl RemoteWriteExporter {
    /// An exporter for `config`.
    ///
    /// # Errors
    /// [`ExportError::InvalidConfig`] for a URL that is not http(s), a bad
    /// header, or an unreadable CA file.
    pub fn new(config: RemoteWriteConfig) -> Result<Self, ExportError> {
        let url = config.url.trim().to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ExportError::InvalidConfig(format!(
                "remote write URL {url:?}: give an http:// or https:// URL (http://127.0.0.1:9090/api/v1/write)"
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                ExportError::InvalidConfig(format!("remote write header {name:?}: {e}"))
            })?;
            let value = reqwest::header::HeaderValue::from_str(value).map_err(|e| {
                ExportError::InvalidConfig(format!("remote write header {name}: {e}"))
            })?;
            headers.insert(name, value);
        }
        let tls = crate::export::client::tls_config(config.verify.as_deref())
            .map_err(|e| ExportError::InvalidConfig(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .default_headers(headers)
            .user_agent(concat!("monitor/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| ExportError::InvalidConfig(format!("HTTP client: {e}")))?;
        let limits = Limits {
            capacity: config.capacity.max(1),
            max_batch_weight: config.max_samples_per_request.max(1),
            min_backoff: config.min_backoff,
            max_backoff: config.max_backoff.max(config.min_backoff),
            linger: std::time::Duration::ZERO,
        };
        Ok(RemoteWriteExporter {
            delivery: Delivery::new(
                "remote-write",
                Client {
                    http,
                    url,
                    timeout: config.timeout,
                },
                limits,
            ),
            flush_deadline: config.flush_deadline,
        })
    }

    /// What it has delivered, refused, dropped and retried so far.
    pub fn stats(&self) -> DeliveryStats {
        self.delivery.stats()
    }
}

#[async_trait]
impl Exporter for RemoteWriteExporter {
    fn name(&self) -> &str {
        "remote-write"
    }

    /// Queues the snapshots for the sender; the error, while the receiver
    /// fails, says how (the snapshots are kept and sent when it is back).
    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        self.delivery.offer(snapshots)
    }

    /// Waits until everything queued was sent, at most
    /// [`RemoteWriteConfig::flush_deadline`].
    async fn flush(&self) -> Result<(), ExportError> {
        self.delivery.flush(self.flush_deadline).await
    }
}

#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
}

#[async_trait]
impl Transport for Client {
    async fn send(&self, batch: &[Snapshot]) -> Attempt {
        let body =
            match snap::raw::Encoder::new().compress_vec(&write_request(batch).encode_to_vec()) {
                Ok(body) => body,
                Err(e) => return Attempt::Reject(format!("snappy: {e}")),
            };
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .header("x-prometheus-remote-write-version", "0.1.0")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Attempt::Retry(
                    format!("{}: no answer within {:?}", self.url, self.timeout),
                    None,
                );
            }
            Err(e) => {
                return Attempt::Retry(
                    format!("{}: {}", self.url, crate::export::client::error_chain(&e)),
                    None,
                );
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status.is_success() {
            return Attempt::Done;
        }
        let text: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        let message = format!("{} answered {status}: {}", self.url, text.trim());
        if status.is_server_error() || status.as_u16() == 429 {
            Attempt::Retry(message, retry_after.filter(|_| status.as_u16() == 429))
        } else {
            Attempt::Reject(message)
        }
    }

    fn weight(&self, snapshot: &Snapshot) -> usize {
        snapshot.metrics.iter().map(|f| f.samples.len()).sum()
    }
}

/// The remote-write 1.0 messages (prometheus/prompb/types.proto and
/// remote.proto), the fields this exporter sends.
#[derive(Clone, PartialEq, prost::Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

/// The series of `batch` (oldest first), each with its samples in time
/// order, labels sorted by name as the protocol asks.
fn write_request(batch: &[Snapshot]) -> WriteRequest {
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    let mut index: HashMap<Vec<Label>, usize> = HashMap::new();
    for snapshot in batch {
        let timestamp = snapshot.timestamp.as_millis();
        for family in &snapshot.metrics {
            let exposed = names::prometheus(&family.name);
            if exposed.is_none() && names::from_prometheus(&family.name).is_some() {
                // A plugin metric named like an exposed built-in one.
                continue;
            }
            let name = exposed.map_or(family.name.as_str(), |p| p.name.as_str());
            let divisor = exposed.map_or(1.0, |p| p.divisor);
            for sample in &family.samples {
                let mut labels = Vec::with_capacity(sample.labels.len() + 2);
                labels.push(label("__name__", name));
                labels.push(label("server_id", snapshot.server_id.as_str()));
                for (name, value) in sample.labels.iter() {
                    let name = match name {
                        "server_id" | "__name__" => format!("exported_{}", name.trim_matches('_')),
                        _ => name.to_owned(),
                    };
                    labels.push(Label {
                        name,
                        value: value.to_owned(),
                    });
                }
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                let point = Sample {
                    value: sample.value / divisor,
                    timestamp,
                };
                match index.get(&labels) {
                    Some(&i) => timeseries[i].samples.push(point),
                    None => {
                        index.insert(labels.clone(), timeseries.len());
                        timeseries.push(TimeSeries {
                            labels,
                            samples: vec![point],
                        });
                    }
                }
            }
        }
    }
    WriteRequest { timeseries }
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use monitor_core::{Collection, Labels, ServerId, Timestamp, Unit};

    fn snapshot(t: i64, value: f64) -> Snapshot {
        let mut c = Collection::new();
        c.gauge("memory_used_bytes", Unit::BYTES, Labels::new(), value);
        c.gauge("memory_used_percent", Unit::PERCENT, Labels::new(), 50.0);
        c.gauge(
            "plugin_value",
            Unit::NONE,
            Labels::new().with("server_id", "inner").with("Zone", "a"),
            1.0,
        );
        Snapshot::new(
            ServerId::new("srv-01").unwrap(),
            Timestamp::from_millis(t),
            c,
        )
    }

    #[test]
    fn each_series_carries_its_samples_in_order_with_their_own_timestamps() {
        let request = write_request(&[snapshot(1_000, 1.0), snapshot(2_000, 2.0)]);
        assert_eq!(request.timeseries.len(), 3);
        let memory = &request.timeseries[0];
        let names: Vec<(&str, &str)> = memory
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("__name__", "monitor_memory_used_bytes"),
                ("server_id", "srv-01")
            ]
        );
        // A percentage goes out as a ratio, under its Prometheus name.
        let ratio = &request.timeseries[1];
        assert_eq!(ratio.labels[0].value, "monitor_memory_used_ratio");
        assert_eq!(ratio.samples[0].value, 0.5);
        let points: Vec<(i64, f64)> = memory
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value))
            .collect();
        assert_eq!(points, [(1_000, 1.0), (2_000, 2.0)]);
        // Sorted by name (upper case first, as bytes), the clashing label renamed.
        let plugin: Vec<&str> = request.timeseries[2]
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(
            plugin,
            ["Zone", "__name__", "exported_server_id", "server_id"]
        );
    }

    #[test]
    fn the_message_is_what_prometheus_decodes() {
        // Field numbers and wire types of prompb, checked byte by byte on the
        // smallest series: one label, one sample.
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![label("a", "b")],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 2,
                }],
            }],
        };
        assert_eq!(
            request.encode_to_vec(),
            [
                0x0a, 0x15, // timeseries (1, length-delimited), 21 bytes
                0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', // label: name 1, value 2
                0x12, 0x0b, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // sample: value 1 (double)
                0x10, 0x02, // timestamp 2 (varint)
            ]
        );
    }

    #[test]
    fn a_url_that_is_not_http_is_refused_with_an_example() {
        let error = RemoteWriteExporter::new(RemoteWriteConfig::new("127.0.0.1:9090")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("http://127.0.0.1:9090/api/v1/write"),
            "{error}"
        );
    }
}
