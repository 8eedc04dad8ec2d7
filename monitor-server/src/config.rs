//! Every setting of the server in one typed struct, [`ServerConfig`].
//!
//! Built from, later winning: the defaults, an optional TOML file
//! (`--config` or `MONITOR_CONFIG`), environment variables, then flags.
//! `docs/configuration.md` lists every key, variable and flag; a test checks
//! it against this module so the two cannot drift.
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! data_dir = "/var/lib/monitor"
//!
//! [tls]
//! self_signed = true
//!
//! [retention]
//! raw = "14d"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a configuration is refused; the message names the setting and what
/// to give instead.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`ServerConfig`] (the message has the
    /// line and column).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// One setting has a bad value.
    #[error("{setting}: {problem}")]
    Invalid {
        /// The flag, variable or key.
        setting: String,
        /// What is wrong and what to give.
        problem: String,
    },
}

fn invalid(setting: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting: setting.to_owned(),
        problem: problem.into(),
    }
}

/// A database URL with its password, if any, shown as `<hidden>`
/// (`postgres://monitor:<hidden>@db/monitor`).
pub fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<hidden>@{host}"),
        None => url.to_owned(),
    }
}

/// Every setting of `monitor-server`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Without TLS only a loopback address is allowed
    /// (behind a TLS-terminating proxy), unless `insecure_http`.
    pub listen: SocketAddr,
    /// Directory of the SQLite database, the generated admin token and the
    /// self-signed TLS files.
    pub data_dir: PathBuf,
    /// Database URL: `sqlite:///path/file.db` or `postgres://...`; default
    /// `<data_dir>/monitor.db`.
    pub database_url: Option<String>,
    /// Serve plain HTTP on a non-loopback address.
    pub insecure_http: bool,
    /// Host names this server answers to besides IP addresses, `localhost`
    /// and the names of its TLS certificate (`monitor.example`;
    /// `.example.com` for a domain and its subdomains; `*` for any). A
    /// request for another name is refused (DNS rebinding); behind nginx,
    /// list the public name.
    pub allowed_hosts: Vec<String>,
    /// How many servers' newest snapshots stay in memory (`CACHE_MAX_ITEMS`).
    pub cache_max_items: usize,
    /// TLS.
    pub tls: TlsSettings,
    /// Where tokens come from.
    pub tokens: TokenSettings,
    /// How long each resolution of history is kept.
    pub retention: RetentionSettings,
    /// Limits on what clients send and how fast.
    pub limits: LimitSettings,
    /// The live stream.
    pub stream: StreamSettings,
    /// Alert notifications.
    pub alerts: AlertSettings,
    /// Relaying every host's metrics to an OpenTelemetry collector.
    pub otlp: OtlpSettings,
}

/// The OTLP relay: every host's newest snapshot, each host its own
/// resource, sent to a collector over OTLP/HTTP.
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
    /// How often the hosts that reported since the last send are sent.
    #[serde(with = "duration_text")]
    pub interval: Duration,
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
        for header in &self.headers {
            let (name, value) = header
                .split_once('=')
                .filter(|(n, _)| !n.trim().is_empty())
                .ok_or_else(|| invalid("otlp.headers", format!("{header:?}: give name=value")))?;
            config
                .headers
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
        config.interval = self.interval;
        config.timeout = self.timeout;
        config.service_name = self.service_name.clone();
        config.verify = self.verify.clone();
        Ok(Some(config))
    }
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

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            data_dir: PathBuf::from("./.data"),
            database_url: None,
            insecure_http: false,
            allowed_hosts: Vec::new(),
            cache_max_items: 1000,
            tls: TlsSettings::default(),
            tokens: TokenSettings::default(),
            retention: RetentionSettings::default(),
            limits: LimitSettings::default(),
            stream: StreamSettings::default(),
            alerts: AlertSettings::default(),
            otlp: OtlpSettings::default(),
        }
    }
}

/// The environment variables the server reads, with the key each sets
/// (secrets have no key: they never go in the file).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("MONITOR_CONFIG", "(the file itself)"),
    ("MONITOR_LISTEN", "listen"),
    ("MONITOR_DATA_DIR", "data_dir"),
    ("MONITOR_DATABASE_URL", "database_url"),
    ("MONITOR_TLS_CERT", "tls.cert"),
    ("MONITOR_TLS_KEY", "tls.key"),
    ("CACHE_MAX_ITEMS", "cache_max_items"),
    ("MONITOR_OTLP_ENDPOINT", "otlp.endpoint"),
    ("MONITOR_ALLOWED_HOSTS", "allowed_hosts"),
    ("DASHBOARD_TOKEN", "(secret)"),
    ("MONITOR_READ_TOKEN", "(secret)"),
    ("MONITOR_ADMIN_TOKEN", "(secret)"),
    ("RUST_LOG", "(the log filter)"),
];

impl ServerConfig {
    /// The defaults overlaid with the TOML file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] or [`ConfigError::Parse`] (unknown keys are
    /// errors: a typo does not silently fall back to a default).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// The defaults overlaid with a TOML text.
    ///
    /// # Errors
    /// The parser's message, with line and column.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// This configuration as TOML (every key, defaults included; webhook
    /// secrets and headers, which may hold credentials, shown as `"<hidden>"`).
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        for hook in &mut shown.alerts.webhooks {
            if hook.secret.is_some() {
                hook.secret = Some("<hidden>".into());
            }
            for value in hook.headers.values_mut() {
                *value = "<hidden>".into();
            }
        }
        if let Some(url) = &mut shown.database_url {
            *url = hide_password(url);
        }
        for header in &mut shown.otlp.headers {
            if let Some((name, _)) = header.split_once('=') {
                *header = format!("{name}=<hidden>");
            }
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot show the configuration: {e}"))
    }

    /// Applies the variables of [`ENVIRONMENT`] that `get` knows (secrets
    /// excepted: the binary reads `DASHBOARD_TOKEN` and `MONITOR_ADMIN_TOKEN` itself).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the variable.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("MONITOR_LISTEN") {
            self.listen = parse_addr("MONITOR_LISTEN", &v)?;
        }
        if let Some(v) = get("MONITOR_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("MONITOR_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("MONITOR_OTLP_ENDPOINT") {
            self.otlp.endpoint = Some(v);
        }
        if let Some(v) = get("MONITOR_TLS_CERT") {
            self.tls.cert = Some(PathBuf::from(v));
        }
        if let Some(v) = get("MONITOR_TLS_KEY") {
            self.tls.key = Some(PathBuf::from(v));
        }
        if let Some(v) = get("MONITOR_ALLOWED_HOSTS") {
            self.allowed_hosts = v
                .split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect();
        }
        if let Some(v) = get("CACHE_MAX_ITEMS") {
            self.cache_max_items = v.trim().parse().map_err(|_| {
                invalid(
                    "CACHE_MAX_ITEMS",
                    format!("{v:?}: give a number of servers (default 1000)"),
                )
            })?;
        }
        Ok(())
    }

    /// Checks the settings together.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for the first setting that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(invalid(
                "tls.cert / tls.key",
                "give both the certificate and its key (--tls-cert and --tls-key)",
            ));
        }
        if self.tls.self_signed && self.tls.cert.is_some() {
            return Err(invalid(
                "tls.self_signed",
                "either a self-signed certificate or --tls-cert/--tls-key, not both",
            ));
        }
        if !self.tls_enabled() && !self.listen.ip().is_loopback() && !self.insecure_http {
            return Err(invalid(
                "listen",
                format!(
                    "{}: serve TLS (--tls-self-signed, or --tls-cert and --tls-key), or listen on a \
                     loopback address behind a TLS proxy (--listen 127.0.0.1:8001), or accept clear \
                     text with --insecure-http",
                    self.listen
                ),
            ));
        }
        if self.alerts.retry_for < Duration::from_secs(60) {
            return Err(invalid(
                "alerts.retry_for",
                "retry notifications at least 1m (a day is usual: \"24h\")",
            ));
        }
        let r = &self.retention;
        if r.raw < Duration::from_secs(3600) {
            return Err(invalid(
                "retention.raw",
                "keep raw samples at least 1h (compaction works on hours)",
            ));
        }
        if r.minute < r.raw || r.hour < r.minute {
            return Err(invalid(
                "retention",
                "coarser tiers must be kept at least as long as finer ones (raw <= minute <= hour)",
            ));
        }
        let l = &self.limits;
        if l.max_body_bytes < 1024 {
            return Err(invalid("limits.max_body_bytes", "give at least 1024"));
        }
        if l.max_series_per_server == 0 {
            return Err(invalid("limits.max_series_per_server", "give at least 1"));
        }
        if l.max_snapshots_per_batch == 0 || l.max_samples_per_snapshot == 0 {
            return Err(invalid(
                "limits",
                "max_snapshots_per_batch and max_samples_per_snapshot must be at least 1",
            ));
        }
        if !(l.ingest_per_token_per_second.is_finite() && l.ingest_per_token_per_second > 0.0) {
            return Err(invalid(
                "limits.ingest_per_token_per_second",
                "give a positive number of snapshots per second",
            ));
        }
        if l.ingest_burst == 0 || l.failed_auth_per_minute == 0 {
            return Err(invalid(
                "limits",
                "ingest_burst and failed_auth_per_minute must be at least 1",
            ));
        }
        if l.ingest_bytes_in_flight < 64 << 10 {
            return Err(invalid(
                "limits.ingest_bytes_in_flight",
                "give at least 65536 (64 KiB)",
            ));
        }
        if l.max_connections == 0 {
            return Err(invalid("limits.max_connections", "give at least 1"));
        }
        for (key, value) in [
            ("limits.handshake_timeout", l.handshake_timeout),
            ("limits.idle_timeout", l.idle_timeout),
            ("limits.body_timeout", l.body_timeout),
            ("limits.write_timeout", l.write_timeout),
            ("limits.request_timeout", l.request_timeout),
        ] {
            if value < Duration::from_secs(1) {
                return Err(invalid(key, "give at least 1s"));
            }
        }
        if let Some(endpoint) = &self.otlp.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(invalid(
                "otlp.endpoint",
                format!("{endpoint:?}: give an http:// or https:// URL (http://127.0.0.1:4318)"),
            ));
        }
        self.otlp.exporter()?;
        if self.otlp.interval < Duration::from_secs(1) || self.otlp.timeout < Duration::from_secs(1)
        {
            return Err(invalid("otlp", "interval and timeout must be at least 1s"));
        }
        for host in &self.allowed_hosts {
            let name = host.trim().trim_start_matches("*.").trim_start_matches('.');
            let valid = host.trim() == "*"
                || (!name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')));
            if !valid {
                return Err(invalid(
                    "allowed_hosts",
                    format!(
                        "{host:?}: give a host name without scheme or port (monitor.example, .example.com, or *)"
                    ),
                ));
            }
        }
        if self.stream.max_buffer_bytes < 64 << 10 {
            return Err(invalid("stream.max_buffer_bytes", "give at least 65536"));
        }
        if self.stream.max_clients == 0 || self.stream.max_clients_per_token == 0 {
            return Err(invalid(
                "stream",
                "max_clients and max_clients_per_token must be at least 1",
            ));
        }
        Ok(())
    }

    /// True when the server serves TLS itself.
    pub fn tls_enabled(&self) -> bool {
        self.tls.self_signed || self.tls.cert.is_some()
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("monitor.db").display()),
        }
    }
}

/// The command line of `monitor-server` (every flag overrides the file and
/// the environment).
#[derive(Debug, clap::Parser)]
#[command(
    name = "monitor-server",
    version,
    about = "The monitor server: registers hosts, receives their metrics, keeps history.",
    after_help = "Every setting can also come from a TOML file (--config) or the environment: see docs/configuration.md."
)]
pub struct Flags {
    /// TOML configuration file (also MONITOR_CONFIG).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Address to listen on (default 0.0.0.0:8443). Without TLS only a
    /// loopback address is allowed (behind a TLS-terminating proxy such as
    /// nginx: 127.0.0.1:8001), unless --insecure-http.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,

    /// Make (once) a local CA and a server certificate in DATA_DIR/tls and
    /// serve TLS with them; agents trust the printed CA file with --verify.
    #[arg(long)]
    pub tls_self_signed: bool,

    /// Extra host names or IP addresses for the self-signed certificate
    /// (localhost, 127.0.0.1 and ::1 are always in it); repeatable.
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_names: Vec<String>,

    /// Directory for the SQLite database, the generated admin token and the
    /// self-signed TLS files (default ./.data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Database URL (default: sqlite://DATA_DIR/monitor.db); postgres://...
    /// for PostgreSQL.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,

    /// Serve plain HTTP on a non-loopback address (tokens then cross the
    /// network in clear text: only for trusted networks).
    #[arg(long)]
    pub insecure_http: bool,

    /// A host name this server answers to, besides IP addresses, localhost
    /// and its certificate's names (the public name behind nginx);
    /// repeatable.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,

    /// Print the configuration in effect (as TOML) and exit.
    #[arg(long)]
    pub print_config: bool,

    /// What to run (default: the server).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Everything on this machine: the server on 127.0.0.1 with SQLite in
    /// --data-dir, this host registered, and an agent reporting to it.
    Quickstart {
        /// Port on 127.0.0.1.
        #[arg(long, default_value = "8001")]
        port: u16,
        /// Seconds between two collections of the local agent.
        #[arg(long, default_value = "2")]
        interval: f64,
    },
}

impl Flags {
    /// The configuration in effect: defaults, the file, the environment
    /// (read through `env`), these flags; checked.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, variable, key or flag at fault.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ServerConfig, ConfigError> {
        let file = self
            .config
            .clone()
            .or_else(|| env("MONITOR_CONFIG").map(PathBuf::from));
        let mut c = match file {
            Some(path) => ServerConfig::from_file(&path)?,
            None => ServerConfig::default(),
        };
        c.apply_env(&env)?;
        if let Some(listen) = self.listen {
            c.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            c.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            c.database_url = Some(url.clone());
        }
        if let Some(cert) = &self.tls_cert {
            c.tls.cert = Some(cert.clone());
        }
        if let Some(key) = &self.tls_key {
            c.tls.key = Some(key.clone());
        }
        c.tls.self_signed |= self.tls_self_signed;
        c.tls.names.extend(self.tls_names.iter().cloned());
        c.insecure_http |= self.insecure_http;
        c.allowed_hosts.extend(self.allowed_hosts.iter().cloned());
        if let Some(Command::Quickstart { port, .. }) = &self.command {
            c.listen = SocketAddr::from(([127, 0, 0, 1], *port));
        }
        c.validate()?;
        Ok(c)
    }
}

fn parse_addr(setting: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.trim().parse().map_err(|_| {
        invalid(
            setting,
            format!("{text:?}: give an address and port, such as 0.0.0.0:8443"),
        )
    })
}

/// Parses `"30s"`, `"15m"`, `"12h"`, `"7d"` or `"2w"` (or plain seconds).
///
/// # Errors
/// A message that says what to write.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let n: u64 = number.trim().parse().map_err(|_| {
        format!("{text:?}: give a whole number with a unit, such as 30s, 15m, 12h, 7d or 2w")
    })?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?}; use s, m, h, d or w"
            ));
        }
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// The shortest text [`parse_duration`] reads back to `d` (whole seconds).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, secs) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s > 0 && s.is_multiple_of(secs) {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

/// Serde form of durations: `"7d"`, `"12h"`, `"30s"`.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_configuration_hides_webhook_credentials() {
        let config = ServerConfig::from_toml(
            "[[alerts.webhooks]]\nname = \"ops\"\nurl = \"https://h.example\"\nsecret = \"s3cret\"\nheaders = { authorization = \"Bearer t0k\" }\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = config.to_toml();
        assert!(
            !shown.contains("s3cret") && !shown.contains("t0k"),
            "{shown}"
        );
        assert!(shown.contains("authorization = \"<hidden>\""), "{shown}");
    }

    #[test]
    fn shown_configuration_hides_database_and_otlp_passwords() {
        let config = ServerConfig::from_toml(
            "database_url = \"postgres://monitor:pa:ss@db.internal/monitor\"\n[otlp]\nendpoint = \"http://c:4318\"\nheaders = [\"api-key=k3y\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = config.to_toml();
        assert!(
            !shown.contains("pa:ss") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://monitor:<hidden>@db.internal/monitor"),
            "{shown}"
        );
        assert!(shown.contains("api-key=<hidden>"), "{shown}");
        assert_eq!(
            hide_password("sqlite:///var/lib/m.db"),
            "sqlite:///var/lib/m.db"
        );
        assert_eq!(
            hide_password("postgres://monitor@db/m"),
            "postgres://monitor@db/m"
        );
    }

    #[test]
    fn durations_read_back() {
        for (text, secs) in [
            ("30s", 30),
            ("15m", 900),
            ("12h", 43_200),
            ("7d", 604_800),
            ("90", 90),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(format_duration(Duration::from_secs(90 * 86_400)), "90d");
        assert_eq!(format_duration(Duration::from_secs(14 * 86_400)), "2w");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
        for bad in ["", "7 days", "d", "-1d", "1y"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_file_overrides_defaults_and_the_defaults_round_trip() {
        let c = ServerConfig::from_toml(
            "listen = \"127.0.0.1:9000\"\n[retention]\nraw = \"14d\"\n[limits]\ningest_burst = 10\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(c.retention.raw, Duration::from_secs(14 * 86_400));
        assert_eq!(c.retention.minute, Duration::from_secs(90 * 86_400));
        assert_eq!(c.limits.ingest_burst, 10);
        let all = ServerConfig::default().to_toml();
        assert_eq!(ServerConfig::from_toml(&all), Ok(ServerConfig::default()));
    }

    #[test]
    fn mistakes_are_named() {
        let e = ServerConfig::from_toml("listen = \"0.0.0.0:1\"\nretension = 3\n").unwrap_err();
        assert!(e.contains("retension"), "{e}");
        let e = ServerConfig::from_toml("[retention]\nraw = \"7 days\"\n").unwrap_err();
        assert!(e.contains("7 days"), "{e}");
        let mut c = ServerConfig::default();
        let e = c
            .apply_env(|k| (k == "CACHE_MAX_ITEMS").then(|| "many".to_owned()))
            .unwrap_err();
        assert!(e.to_string().starts_with("CACHE_MAX_ITEMS"), "{e}");
        c.listen = SocketAddr::from(([0, 0, 0, 0], 8001));
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("--insecure-http"), "{e}");
        c.tls.self_signed = true;
        assert!(c.validate().is_ok());
        c.retention.minute = Duration::from_secs(3600);
        assert!(c.validate().is_err());
        let mut c = ServerConfig::default();
        c.tls.self_signed = true;
        for (bytes, ok) in [
            (0, false),
            (65_535, false),
            (65_536, true),
            (usize::MAX, true),
        ] {
            c.limits.ingest_bytes_in_flight = bytes;
            let result = c.validate();
            assert_eq!(result.is_ok(), ok, "{bytes}: {result:?}");
            if let Err(e) = result {
                assert!(
                    e.to_string().contains("limits.ingest_bytes_in_flight"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let mut c =
            ServerConfig::from_toml("cache_max_items = 5\n").unwrap_or_else(|e| panic!("{e}"));
        c.apply_env(|k| match k {
            "CACHE_MAX_ITEMS" => Some("7".into()),
            "MONITOR_LISTEN" => Some("127.0.0.1:8001".into()),
            _ => None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.cache_max_items, 7);
        assert_eq!(c.listen.port(), 8001);
    }
}
