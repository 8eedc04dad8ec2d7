//! The sections of the configuration: TLS, tokens, retention, limits, the
//! live stream, alerts, the OTLP relay and remote write, each with its
//! defaults.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, duration_text, invalid};

/// The OTLP relay: every report the server stores, each host its own
/// resource, sent to a collector over OTLP/HTTP (or gRPC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpSettings {
    /// The collector's base URL (`http://HOST:4318`; `/v1/metrics` is
    /// added); none: no relay.
    pub endpoint: Option<String>,
    /// `http/protobuf` (port 4318) or `grpc` (port 4317; needs the server
    /// built with the `otlp-grpc` feature).
    pub protocol: String,
    /// Request headers, `name=value` each (an API key).
    pub headers: Vec<String>,
    /// How long a report waits for others to join its request (at most
    /// 500 reports a request).
    #[serde(with = "duration_text")]
    pub interval: Duration,
    /// Reports held in memory while the collector is down; beyond, the
    /// oldest are dropped.
    pub capacity: usize,
    /// How long one request may take.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// The resources' `service.name`.
    pub service_name: String,
    /// CA bundle (PEM) the collector's certificate must chain to (default:
    /// the system's roots).
    pub verify: Option<PathBuf>,
}

impl Default for OtlpSettings {
    fn default() -> Self {
        OtlpSettings {
            endpoint: None,
            protocol: "http/protobuf".into(),
            headers: Vec::new(),
            interval: Duration::from_secs(10),
            capacity: 10_000,
            timeout: Duration::from_secs(10),
            service_name: "monitor".into(),
            verify: None,
        }
    }
}

impl OtlpSettings {
    /// The exporter's configuration, when a relay is configured.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a header without `=`.
    pub fn exporter(
        &self,
    ) -> Result<Option<monitor_collectors::export::otlp::OtlpConfig>, ConfigError> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(None);
        };
        let mut config = monitor_collectors::export::otlp::OtlpConfig::new(endpoint.clone());
        config.protocol = self
            .protocol
            .parse()
            .map_err(|e: String| invalid("otlp.protocol", e))?;
        config.headers = name_values("otlp.headers", &self.headers)?;
        config.interval = self.interval;
        config.timeout = self.timeout;
        config.service_name = self.service_name.clone();
        config.verify = self.verify.clone();
        Ok(Some(config))
    }
}

/// Prometheus remote write: every report the server stores, each sample
/// with its report's timestamp, to a remote-write receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteWriteSettings {
    /// The receiver's URL (`http://HOST:9090/api/v1/write`); none: off.
    pub url: Option<String>,
    /// Request headers, `name=value` each (`Authorization=Bearer …`,
    /// `X-Scope-OrgID=…`).
    pub headers: Vec<String>,
    /// How long one request may take.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// Reports held in memory while the receiver is down; beyond, the
    /// oldest are dropped.
    pub capacity: usize,
    /// CA bundle (PEM) the receiver's certificate must chain to (default:
    /// the system's roots).
    pub verify: Option<PathBuf>,
}

impl Default for RemoteWriteSettings {
    fn default() -> Self {
        RemoteWriteSettings {
            url: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            capacity: 10_000,
            verify: None,
        }
    }
}

impl RemoteWriteSettings {
    /// The exporter's configuration, when a URL is set.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a header without `=`, a URL that is
    /// not http(s), or a timeout under a second.
    pub fn exporter(
        &self,
    ) -> Result<Option<monitor_collectors::export::remote_write::RemoteWriteConfig>, ConfigError>
    {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                "remote_write.url",
                format!(
                    "{url:?}: give an http:// or https:// URL (http://127.0.0.1:9090/api/v1/write)"
                ),
            ));
        }
        if self.timeout < Duration::from_secs(1) {
            return Err(invalid("remote_write.timeout", "give at least 1s"));
        }
        let mut config =
            monitor_collectors::export::remote_write::RemoteWriteConfig::new(url.clone());
        config.headers = name_values("remote_write.headers", &self.headers)?;
        config.timeout = self.timeout;
        config.capacity = self.capacity.max(1);
        config.verify = self.verify.clone();
        Ok(Some(config))
    }
}

/// `name=value` headers of a setting.
fn name_values(key: &str, headers: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    headers
        .iter()
        .map(|header| {
            header
                .split_once('=')
                .filter(|(n, _)| !n.trim().is_empty())
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| invalid(key, format!("{header:?}: give name=value")))
        })
        .collect()
}

/// Alert notification settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// Notify a still-firing alert again this often (`"0s"`: never).
    #[serde(with = "duration_text")]
    pub repeat_every: Duration,
    /// Retry a notification that fails (receiver down, 5xx, 429) this
    /// long from when it was queued, then give it up (default a day).
    #[serde(with = "duration_text")]
    pub retry_for: Duration,
    /// The dashboard's public address, for links in notifications (empty:
    /// no links).
    pub dashboard_url: String,
    /// Webhooks (`[[alerts.webhooks]]` tables).
    pub webhooks: Vec<crate::webhook::WebhookConfig>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            repeat_every: Duration::ZERO,
            retry_for: Duration::from_secs(86_400),
            dashboard_url: String::new(),
            webhooks: Vec::new(),
        }
    }
}

/// TLS settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// Certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Private key (PEM).
    pub key: Option<PathBuf>,
    /// Make (once) a local CA and a server certificate in `<data_dir>/tls`.
    pub self_signed: bool,
    /// Extra names or addresses for the self-signed certificate.
    pub names: Vec<String>,
}

/// Where the admin and dashboard tokens come from (the secrets themselves
/// stay out of the file: variables or files of their own).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// File holding the dashboard token (read, change alert settings);
    /// `DASHBOARD_TOKEN` wins.
    pub dashboard_token_file: Option<PathBuf>,
    /// File holding the read-only token (every read, no change);
    /// `MONITOR_READ_TOKEN` wins.
    pub read_token_file: Option<PathBuf>,
    /// File holding the admin token; `MONITOR_ADMIN_TOKEN` wins; default
    /// `<data_dir>/admin.token`, generated at the first start.
    pub admin_token_file: Option<PathBuf>,
}

/// Retention per resolution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Raw samples.
    #[serde(with = "duration_text")]
    pub raw: Duration,
    /// One-minute rollups.
    #[serde(with = "duration_text")]
    pub minute: Duration,
    /// One-hour rollups.
    #[serde(with = "duration_text")]
    pub hour: Duration,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        let p = monitor_core::store::RetentionPolicy::default();
        RetentionSettings {
            raw: p.raw,
            minute: p.minute,
            hour: p.hour,
        }
    }
}

impl RetentionSettings {
    /// As the store's policy.
    pub fn policy(&self) -> monitor_core::store::RetentionPolicy {
        monitor_core::store::RetentionPolicy {
            raw: self.raw,
            minute: self.minute,
            hour: self.hour,
        }
    }
}

/// Limits on requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest request body, after decompression, in bytes.
    pub max_body_bytes: usize,
    /// Snapshots in one batch.
    pub max_snapshots_per_batch: usize,
    /// Samples in one snapshot.
    pub max_samples_per_snapshot: usize,
    /// Labels on one sample.
    pub max_labels_per_sample: usize,
    /// Series one server may have in use (reported within the raw
    /// retention); a report that would add more is refused (422
    /// `too_many_series`).
    pub max_series_per_server: usize,
    /// How far in the future a snapshot may be dated (clock skew).
    #[serde(with = "duration_text")]
    pub future_tolerance: Duration,
    /// Snapshots per second one agent token may send, on average.
    pub ingest_per_token_per_second: f64,
    /// Snapshots one agent token may send at once above that rate (a replay
    /// after an outage).
    pub ingest_burst: u32,
    /// Inflated bytes of the ingest bodies being decoded and stored at once
    /// (their decoded snapshots take about three times more); a request
    /// beyond waits up to 2 s, then gets 503 `overloaded` with
    /// `Retry-After` (see [`crate::admission`]).
    pub ingest_bytes_in_flight: usize,
    /// Requests with a wrong token one client address may make per minute
    /// before getting 429.
    pub failed_auth_per_minute: u32,
    /// Open connections at most (TLS handshakes included); the server stops
    /// accepting while it holds this many.
    pub max_connections: usize,
    /// How long a client may take to finish the TLS handshake.
    #[serde(with = "duration_text")]
    pub handshake_timeout: Duration,
    /// How long a connection may go without a complete request head (slow
    /// heads, and keep-alive idleness between requests).
    #[serde(with = "duration_text")]
    pub idle_timeout: Duration,
    /// How long a request body may take to arrive once its head has.
    #[serde(with = "duration_text")]
    pub body_timeout: Duration,
    /// How long a response (the live stream's too) may wait for the client
    /// to take any of it; then the connection is closed.
    #[serde(with = "duration_text")]
    pub write_timeout: Duration,
    /// How long the server may take to answer a request once its head has
    /// arrived, the body's arrival included (a store that stopped
    /// answering): 503 `timeout` after it. The live stream is not held to it.
    #[serde(with = "duration_text")]
    pub request_timeout: Duration,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let wire = monitor_core::wire::Limits::default();
        LimitSettings {
            max_body_bytes: 4 << 20,
            max_snapshots_per_batch: wire.max_snapshots_per_batch,
            max_samples_per_snapshot: wire.max_samples_per_snapshot,
            max_labels_per_sample: wire.max_labels_per_sample,
            max_series_per_server: monitor_store::DEFAULT_MAX_SERIES,
            future_tolerance: Duration::from_secs(300),
            ingest_per_token_per_second: 10.0,
            ingest_burst: 5_000,
            ingest_bytes_in_flight: 32 << 20,
            failed_auth_per_minute: 30,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl LimitSettings {
    /// How the HTTP server treats connections, with `tls` or plain.
    pub fn serve_options(
        &self,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> crate::serve::ServeOptions {
        crate::serve::ServeOptions {
            tls,
            max_connections: self.max_connections,
            handshake_timeout: self.handshake_timeout,
            idle_timeout: self.idle_timeout,
            body_timeout: self.body_timeout,
            write_timeout: self.write_timeout,
            ..crate::serve::ServeOptions::default()
        }
    }

    /// The wire limits these settings make.
    pub fn wire(&self) -> monitor_core::wire::Limits {
        monitor_core::wire::Limits {
            max_snapshots_per_batch: self.max_snapshots_per_batch,
            max_samples_per_snapshot: self.max_samples_per_snapshot,
            max_labels_per_sample: self.max_labels_per_sample,
            ..monitor_core::wire::Limits::default()
        }
    }
}

/// Live stream settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamSettings {
    /// Connected clients in all.
    pub max_clients: usize,
    /// Connected clients per token (or per address when reads are open).
    pub max_clients_per_token: usize,
    /// Bytes of events kept for clients to read and to replay after a
    /// reconnection (the oldest go first beyond it).
    pub max_buffer_bytes: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            max_clients: 256,
            max_clients_per_token: 32,
            max_buffer_bytes: crate::stream::DEFAULT_MAX_BYTES,
        }
    }
}
