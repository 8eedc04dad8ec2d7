//! Snapshots as OpenTelemetry metrics, pushed over OTLP/HTTP with protobuf
//! bodies (`POST {endpoint}/v1/metrics`, `application/x-protobuf`, gzip).
//!
//! Each snapshot becomes one `ResourceMetrics`: the host is the resource
//! (`host.id` = the server id, `host.name`, `host.arch`, `os.description`,
//! `service.name`, `service.version`), so one request can carry many hosts
//! (the server relays every host it receives). Built-in metrics follow the
//! semantic conventions through [`monitor_core::names::WELL_KNOWN`]: their
//! OpenTelemetry name, UCUM unit, instrument (gauge, up-down counter or
//! counter), fixed attributes, label renames and scale (percent becomes a
//! 0–1 utilization); several of ours can make one OpenTelemetry metric
//! (`system.memory.usage` with `system.memory.state`). A plugin's metric
//! keeps its name and labels. `docs/metrics.md` has the whole table.
//!
//! [`OtlpExporter`] is a periodic exporter, as OpenTelemetry's periodic
//! reader is: it keeps the newest snapshot of each server and sends them
//! every [`OtlpConfig::interval`]; what a failed send held is kept for the
//! next one (unless a newer snapshot replaced it).
//!
//! ```no_run
//! use monitor_collectors::export::otlp::{OtlpConfig, OtlpExporter};
//!
//! # fn run() -> Result<(), monitor_core::ExportError> {
//! let exporter = OtlpExporter::new(OtlpConfig::new("http://127.0.0.1:4318"))?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use monitor_core::names::Instrument;
use monitor_core::{ExportError, Exporter, ServerId, Snapshot};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// The instrumentation scope of every metric sent.
pub const SCOPE: &str = "monitor";

/// How requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (`POST {endpoint}/v1/metrics`), port
    /// 4318 by convention.
    #[default]
    HttpProtobuf,
    /// OTLP/gRPC (`MetricsService/Export`), port 4317 by convention; needs
    /// the `otlp-grpc` feature.
    Grpc,
}

impl Protocol {
    /// The name the OpenTelemetry configuration uses
    /// (`OTEL_EXPORTER_OTLP_PROTOCOL`): `http/protobuf` or `grpc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "http/protobuf" | "http" => Ok(Protocol::HttpProtobuf),
            "grpc" => Ok(Protocol::Grpc),
            other => Err(format!(
                "unknown OTLP protocol {other:?}: give http/protobuf or grpc"
            )),
        }
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The collector's base URL (`http://127.0.0.1:4318`); for HTTP,
    /// `/v1/metrics` is added unless the URL already ends with it.
    pub endpoint: String,
    /// HTTP/protobuf (the default) or gRPC.
    pub protocol: Protocol,
    /// Extra request headers (an API key).
    pub headers: Vec<(String, String)>,
    /// How often the newest snapshots are sent.
    pub interval: Duration,
    /// How long one request may take.
    pub timeout: Duration,
    /// `service.name` of every resource.
    pub service_name: String,
    /// Compress request bodies.
    pub gzip: bool,
    /// CA bundle (PEM) the collector's certificate must chain to (default:
    /// the system's roots).
    pub verify: Option<PathBuf>,
    /// Hosts per request at most (the server relays many).
    pub max_resources_per_request: usize,
}

impl OtlpConfig {
    /// Defaults for `endpoint`: every 10 s, 10-s timeout, gzip,
    /// `service.name` `monitor`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        OtlpConfig {
            endpoint: endpoint.into(),
            protocol: Protocol::HttpProtobuf,
            headers: Vec::new(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            service_name: "monitor".into(),
            gzip: true,
            verify: None,
            max_resources_per_request: 500,
        }
    }

    /// The URL requests go to.
    pub fn url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if self.protocol == Protocol::Grpc || base.ends_with("/v1/metrics") {
            base.to_owned()
        } else {
            format!("{base}/v1/metrics")
        }
    }
}

fn kv(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn nanos(millis: i64) -> u64 {
    u64::try_from(millis).unwrap_or(0).saturating_mul(1_000_000)
}

/// The resource describing a snapshot's host.
fn resource(snapshot: &Snapshot, service_name: &str) -> Resource {
    let host = snapshot.host.as_ref();
    let mut attributes = vec![
        kv("service.name", service_name),
        kv("host.id", snapshot.server_id.as_str()),
        kv(
            "host.name",
            host.map(|h| h.hostname.as_str())
                .filter(|h| !h.is_empty())
                .unwrap_or(snapshot.server_id.as_str()),
        ),
    ];
    if let Some(h) = host {
        if !h.agent_version.is_empty() {
            attributes.push(kv("service.version", h.agent_version.as_str()));
        }
        if !h.arch.is_empty() {
            attributes.push(kv("host.arch", h.arch.as_str()));
        }
        if !h.os.is_empty() {
            attributes.push(kv("os.description", h.os.as_str()));
        }
        attributes.push(kv("os.type", "linux"));
    }
    Resource {
        attributes,
        ..Default::default()
    }
}

/// One snapshot's metrics, in the semantic conventions where we know them
/// ([`monitor_core::otel::metrics`]).
fn metrics(snapshot: &Snapshot) -> Vec<Metric> {
    let time = nanos(snapshot.timestamp.as_millis());
    monitor_core::otel::metrics(snapshot)
        .into_iter()
        .map(|m| {
            let points = m.points.into_iter().map(|p| NumberDataPoint {
                attributes: p
                    .attributes
                    .iter()
                    .map(|(k, v)| kv(k, v.as_str()))
                    .collect(),
                start_time_unix_nano: p.start.map_or(0, |t| nanos(t.as_millis())),
                time_unix_nano: time,
                value: Some(number_data_point::Value::AsDouble(p.value)),
                ..Default::default()
            });
            let data = match m.instrument {
                Instrument::Gauge => metric::Data::Gauge(Gauge {
                    data_points: points.collect(),
                }),
                Instrument::UpDownCounter | Instrument::Counter => metric::Data::Sum(Sum {
                    data_points: points.collect(),
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: m.instrument == Instrument::Counter,
                }),
            };
            Metric {
                name: m.name,
                description: m.description,
                unit: m.unit,
                data: Some(data),
                ..Default::default()
            }
        })
        .collect()
}

/// The OTLP request for `snapshots`: one resource per snapshot.
pub fn request<'a>(
    snapshots: impl IntoIterator<Item = &'a Snapshot>,
    service_name: &str,
) -> ExportMetricsServiceRequest {
    let resource_metrics = snapshots
        .into_iter()
        .map(|snapshot| ResourceMetrics {
            resource: Some(resource(snapshot, service_name)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                metrics: metrics(snapshot),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

/// Sends snapshots to an OTLP/HTTP collector (see the module docs). Sends
/// run in their own task: a slow or unreachable collector never holds up
/// the caller of [`Exporter::export`].
#[derive(Debug, Clone)]
pub struct OtlpExporter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: OtlpConfig,
    url: String,
    transport: Transport,
    pending: Mutex<BTreeMap<ServerId, Snapshot>>,
    last_sent: Mutex<Option<Instant>>,
    sending: AtomicBool,
    /// Held for the whole of a send, so that `flush` waits for a send in
    /// progress in the background before it answers: a flush that returned
    /// while the background send was still on its way left a receiver
    /// without the snapshots it took (the conformance test saw it now and
    /// then).
    send_lock: tokio::sync::Mutex<()>,
    /// How the last background send failed (its message, and whether a
    /// retry may help), reported by every `export` until one succeeds.
    failure: Mutex<Option<(String, bool)>>,
}

impl OtlpExporter {
    /// An exporter for `config`.
    ///
    /// # Errors
    /// [`ExportError::InvalidConfig`] for an endpoint that is not an http(s)
    /// URL, a bad header, or an unreadable CA file.
    pub fn new(config: OtlpConfig) -> Result<Self, ExportError> {
        let url = config.url();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ExportError::InvalidConfig(format!(
                "OTLP endpoint {:?}: give an http:// or https:// URL (http://127.0.0.1:4318)",
                config.endpoint
            )));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| ExportError::InvalidConfig(format!("OTLP header {name:?}: {e}")))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|e| ExportError::InvalidConfig(format!("OTLP header {name}: {e}")))?;
            headers.insert(name, value);
        }
        let transport = match config.protocol {
            Protocol::HttpProtobuf => {
                let tls = crate::export::client::tls_config(config.verify.as_deref())
                    .map_err(|e| ExportError::InvalidConfig(e.to_string()))?;
                Transport::Http(
                    reqwest::Client::builder()
                        .timeout(config.timeout)
                        .connect_timeout(config.timeout)
                        .default_headers(headers)
                        .user_agent(concat!("monitor-agent/", env!("CARGO_PKG_VERSION")))
                        .tls_backend_preconfigured(tls)
                        .build()
                        .map_err(|e| ExportError::InvalidConfig(format!("HTTP client: {e}")))?,
                )
            }
            #[cfg(feature = "otlp-grpc")]
            Protocol::Grpc => Transport::Grpc(Box::new(grpc::Client::new(&config, headers)?)),
            #[cfg(not(feature = "otlp-grpc"))]
            Protocol::Grpc => {
                return Err(ExportError::InvalidConfig(
                    "OTLP over gRPC needs the `otlp-grpc` feature; use HTTP/protobuf (port 4318)"
                        .into(),
                ));
            }
        };
        Ok(OtlpExporter {
            inner: Arc::new(Inner {
                config,
                url,
                transport,
                pending: Mutex::new(BTreeMap::new()),
                last_sent: Mutex::new(None),
                sending: AtomicBool::new(false),
                send_lock: tokio::sync::Mutex::new(()),
                failure: Mutex::new(None),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OtlpConfig {
        &self.inner.config
    }

    /// Sends `snapshots` now, in requests of at most
    /// [`OtlpConfig::max_resources_per_request`] hosts. One attempt.
    ///
    /// # Errors
    /// [`ExportError::Unavailable`] (retryable: unreachable, 429, 502, 503,
    /// 504), [`ExportError::Timeout`], or [`ExportError::Rejected`] (any
    /// other answer: retrying would not help).
    pub async fn send(&self, snapshots: &[&Snapshot]) -> Result<(), ExportError> {
        self.inner.send(snapshots).await
    }
}

/// How requests go out.
#[derive(Debug)]
enum Transport {
    Http(reqwest::Client),
    #[cfg(feature = "otlp-grpc")]
    Grpc(Box<grpc::Client>),
}

/// OTLP/gRPC with tonic (feature `otlp-grpc`).
#[cfg(feature = "otlp-grpc")]
mod grpc {
    use monitor_core::ExportError;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use tonic::codec::CompressionEncoding;
    use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

    use super::OtlpConfig;

    /// A gRPC channel to the collector, connected on first use.
    #[derive(Debug, Clone)]
    pub(super) struct Client {
        client: MetricsServiceClient<Channel>,
        metadata: MetadataMap,
        timeout: std::time::Duration,
    }

    fn invalid(what: impl std::fmt::Display) -> ExportError {
        ExportError::InvalidConfig(what.to_string())
    }

    impl Client {
        pub(super) fn new(
            config: &OtlpConfig,
            headers: reqwest::header::HeaderMap,
        ) -> Result<Self, ExportError> {
            let mut endpoint = Endpoint::from_shared(config.endpoint.clone())
                .map_err(|e| invalid(format!("OTLP endpoint {:?}: {e}", config.endpoint)))?
                .timeout(config.timeout)
                .connect_timeout(config.timeout);
            if config.endpoint.starts_with("https://") {
                let tls = match &config.verify {
                    Some(path) => {
                        let pem = std::fs::read(path).map_err(|e| {
                            invalid(format!("--otlp-verify {}: {e}", path.display()))
                        })?;
                        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
                    }
                    None => ClientTlsConfig::new().with_native_roots(),
                };
                endpoint = endpoint
                    .tls_config(tls)
                    .map_err(|e| invalid(format!("OTLP TLS: {e}")))?;
            }
            let mut metadata = MetadataMap::new();
            for (name, value) in &headers {
                let key = MetadataKey::from_bytes(name.as_str().as_bytes())
                    .map_err(|e| invalid(format!("OTLP header {name}: {e}")))?;
                let value = value
                    .to_str()
                    .ok()
                    .and_then(|v| MetadataValue::try_from(v).ok())
                    .ok_or_else(|| invalid(format!("OTLP header {name}: not ASCII")))?;
                metadata.insert(key, value);
            }
            let mut client = MetricsServiceClient::new(endpoint.connect_lazy());
            if config.gzip {
                client = client.send_compressed(CompressionEncoding::Gzip);
            }
            Ok(Client {
                client,
                metadata,
                timeout: config.timeout,
            })
        }

        /// One `Export` call.
        pub(super) async fn export(
            &self,
            message: ExportMetricsServiceRequest,
        ) -> Result<(), ExportError> {
            let mut request = tonic::Request::new(message);
            *request.metadata_mut() = self.metadata.clone();
            request.set_timeout(self.timeout);
            match self.client.clone().export(request).await {
                Ok(response) => {
                    if let Some(partial) = response.into_inner().partial_success
                        && (partial.rejected_data_points > 0 || !partial.error_message.is_empty())
                    {
                        tracing::warn!(
                            rejected = partial.rejected_data_points,
                            message = %partial.error_message,
                            "The OTLP collector accepted the request in part."
                        );
                    }
                    Ok(())
                }
                Err(status) => {
                    use tonic::Code;
                    let message = format!("gRPC {:?}: {}", status.code(), status.message());
                    match status.code() {
                        Code::DeadlineExceeded => Err(ExportError::Timeout(self.timeout)),
                        Code::Unavailable
                        | Code::ResourceExhausted
                        | Code::Aborted
                        | Code::Cancelled
                        | Code::OutOfRange
                        | Code::DataLoss => Err(ExportError::Unavailable(message)),
                        _ => Err(ExportError::Rejected(message)),
                    }
                }
            }
        }
    }
}

impl Inner {
    async fn send(&self, snapshots: &[&Snapshot]) -> Result<(), ExportError> {
        for chunk in snapshots.chunks(self.config.max_resources_per_request.max(1)) {
            self.post(request(chunk.iter().copied(), &self.config.service_name))
                .await?;
        }
        Ok(())
    }

    async fn post(&self, message: ExportMetricsServiceRequest) -> Result<(), ExportError> {
        // One arm without the otlp-grpc feature.
        #[allow(clippy::infallible_destructuring_match)]
        let client = match &self.transport {
            Transport::Http(client) => client,
            #[cfg(feature = "otlp-grpc")]
            Transport::Grpc(client) => return client.export(message).await,
        };
        let body = message.encode_to_vec();
        let mut request = client
            .post(&self.url)
            .header("content-type", "application/x-protobuf");
        let body = if self.config.gzip {
            request = request.header("content-encoding", "gzip");
            crate::export::client::gzip(&body)
        } else {
            body
        };
        let response = request.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                ExportError::Timeout(self.config.timeout)
            } else {
                ExportError::Unavailable(format!(
                    "{}: {}",
                    self.url,
                    crate::export::client::error_chain(&e)
                ))
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.unwrap_or_default();
        match status.as_u16() {
            200..=299 => {
                if let Ok(answer) = ExportMetricsServiceResponse::decode(bytes.as_ref())
                    && let Some(partial) = answer.partial_success
                    && (partial.rejected_data_points > 0 || !partial.error_message.is_empty())
                {
                    tracing::warn!(
                        rejected = partial.rejected_data_points,
                        message = %partial.error_message,
                        "The OTLP collector accepted the request in part."
                    );
                }
                Ok(())
            }
            429 | 502 | 503 | 504 => Err(ExportError::Unavailable(format!(
                "{} answered {status}{}",
                self.url,
                retry_after.map_or(String::new(), |r| format!(" (retry after {r} s)"))
            ))),
            _ => Err(ExportError::Rejected(format!(
                "{} answered {status}: {}",
                self.url,
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ))),
        }
    }

    /// Sends what is pending and forgets what was sent; what a failed
    /// attempt held waits for the next one unless something newer came.
    async fn send_pending(&self) -> Result<(), ExportError> {
        let _one_at_a_time = self.send_lock.lock().await;
        let batch: Vec<Snapshot> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *pending).into_values().collect()
        };
        *self
            .last_sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.send(&batch.iter().collect::<Vec<_>>()).await;
        if let Err(error) = &result
            && error.is_retryable()
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for snapshot in batch {
                pending
                    .entry(snapshot.server_id.clone())
                    .or_insert(snapshot);
            }
        }
        result
    }
}

#[async_trait]
impl Exporter for OtlpExporter {
    fn name(&self) -> &str {
        "otlp"
    }

    /// Keeps the newest snapshot of each server; once
    /// [`OtlpConfig::interval`] has passed since the last send, sends them
    /// in a task of their own. A failure of that send is this call's error
    /// the next time.
    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        let inner = &self.inner;
        {
            let mut pending = inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for s in snapshots {
                let newer = pending
                    .get(&s.server_id)
                    .is_none_or(|held| held.timestamp <= s.timestamp);
                if newer {
                    pending.insert(s.server_id.clone(), s.clone());
                }
            }
        }
        let due = inner
            .last_sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|t| t.elapsed() >= inner.config.interval);
        if due && !inner.sending.swap(true, Ordering::AcqRel) {
            let inner = Arc::clone(inner);
            tokio::spawn(async move {
                let result = inner.send_pending().await;
                *inner.failure.lock().unwrap_or_else(PoisonError::into_inner) =
                    result.err().map(|e| {
                        let retryable = e.is_retryable();
                        let message = match e {
                            ExportError::Unavailable(m) | ExportError::Rejected(m) => m,
                            other => other.to_string(),
                        };
                        (message, retryable)
                    });
                inner.sending.store(false, Ordering::Release);
            });
        }
        match &*inner.failure.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((message, true)) => Err(ExportError::Unavailable(message.clone())),
            Some((message, false)) => Err(ExportError::Rejected(message.clone())),
            None => Ok(()),
        }
    }

    async fn flush(&self) -> Result<(), ExportError> {
        self.inner.send_pending().await
    }
}

/// Every snapshot it is given, each with its own timestamp (not only each
/// host's newest, as [`OtlpExporter`] sends for an agent): what a server
/// relays for every host it receives, replays after an outage included.
/// Snapshots wait [`OtlpConfig::interval`] for others to join their
/// request (at most [`OtlpConfig::max_resources_per_request`]), then go in
/// the order they came, one request at a time, sent again with exponential
/// backoff (1 s doubling to 30 s) while the collector cannot be reached or
/// answers that it may take them later (429, 502, 503, 504, a timeout),
/// and dropped with a warning when it refuses them for good. Up to
/// `capacity` snapshots wait in memory while the collector is down; beyond,
/// the oldest are dropped and counted ([`OtlpRelay::stats`]).
#[derive(Debug)]
pub struct OtlpRelay {
    delivery: crate::export::delivery::Delivery<OtlpExporter>,
    flush_deadline: Duration,
}

impl OtlpRelay {
    /// A relay for `config`, holding up to `capacity` snapshots while the
    /// collector is down.
    ///
    /// # Errors
    /// As [`OtlpExporter::new`].
    pub fn new(config: OtlpConfig, capacity: usize) -> Result<Self, ExportError> {
        let limits = crate::export::delivery::Limits {
            capacity: capacity.max(1),
            max_batch_weight: config.max_resources_per_request.max(1),
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            linger: config.interval,
        };
        let flush_deadline = config.timeout.max(Duration::from_secs(10));
        Ok(OtlpRelay {
            delivery: crate::export::delivery::Delivery::new(
                "otlp",
                OtlpExporter::new(config)?,
                limits,
            ),
            flush_deadline,
        })
    }

    /// What it has delivered, refused, dropped and retried so far.
    pub fn stats(&self) -> crate::export::DeliveryStats {
        self.delivery.stats()
    }
}

#[async_trait]
impl crate::export::delivery::Transport for OtlpExporter {
    async fn send(&self, batch: &[Snapshot]) -> crate::export::delivery::Attempt {
        use crate::export::delivery::Attempt;
        match self.inner.send(&batch.iter().collect::<Vec<_>>()).await {
            Ok(()) => Attempt::Done,
            Err(ExportError::Rejected(message)) => Attempt::Reject(message),
            Err(error) if error.is_retryable() => Attempt::Retry(error.to_string(), None),
            Err(error) => Attempt::Reject(error.to_string()),
        }
    }

    fn weight(&self, _: &Snapshot) -> usize {
        1
    }
}

#[async_trait]
impl Exporter for OtlpRelay {
    fn name(&self) -> &str {
        "otlp"
    }

    /// Queues the snapshots; the error, while the collector fails, says
    /// how (the snapshots are kept and sent when it is back).
    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        self.delivery.offer(snapshots)
    }

    /// Waits until everything queued was sent (the timeout, and at least
    /// 10 s, at most).
    async fn flush(&self) -> Result<(), ExportError> {
        self.delivery.flush(self.flush_deadline).await
    }
}

#[cfg(test)]
mod tests;
