//! Every setting of the server in one typed struct, [`ServerConfig`].
//!
//! Built from, later winning: the defaults, a TOML file (`--config`,
//! `MONITOR_CONFIG`, or [`DEFAULT_FILE`] when it exists), environment
//! variables (every key, by the rule of [`mod@env`]), then flags.
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

mod check;
pub mod env;
mod flags;
mod settings;

pub use check::check;
pub use flags::{Command, Flags};
pub use settings::{
    AlertSettings, LimitSettings, OtlpSettings, RemoteWriteSettings, RetentionSettings,
    StreamSettings, TlsSettings, TokenSettings,
};

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

/// The file read when neither `--config` nor `MONITOR_CONFIG` names one and
/// it exists (the Debian package installs it).
pub const DEFAULT_FILE: &str = "/etc/monitor/server.toml";

/// How logs are written on standard error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for journald, Loki or Elasticsearch.
    Json,
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
    /// Proxies on other machines whose `X-Forwarded-For` names the client
    /// (addresses or networks: `10.0.0.5`, `10.0.0.0/8`); a proxy on
    /// loopback is always believed.
    pub trusted_proxies: Vec<String>,
    /// How many servers' newest snapshots stay in memory (`CACHE_MAX_ITEMS`).
    pub cache_max_items: usize,
    /// How logs are written.
    pub log_format: LogFormat,
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
    /// Every stored report to a Prometheus remote-write receiver.
    pub remote_write: RemoteWriteSettings,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            data_dir: PathBuf::from("./.data"),
            database_url: None,
            insecure_http: false,
            allowed_hosts: Vec::new(),
            trusted_proxies: Vec::new(),
            cache_max_items: 1000,
            log_format: LogFormat::Text,
            tls: TlsSettings::default(),
            tokens: TokenSettings::default(),
            retention: RetentionSettings::default(),
            limits: LimitSettings::default(),
            stream: StreamSettings::default(),
            alerts: AlertSettings::default(),
            otlp: OtlpSettings::default(),
            remote_write: RemoteWriteSettings::default(),
        }
    }
}

/// The environment variables the server reads besides those of the rule
/// of [`mod@env`] (`MONITOR_` and a key of the file), with what each gives.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("MONITOR_CONFIG", "(the file itself)"),
    ("CACHE_MAX_ITEMS", "cache_max_items (the original's name)"),
    ("DASHBOARD_TOKEN", "(secret)"),
    ("MONITOR_READ_TOKEN", "(secret)"),
    ("MONITOR_ADMIN_TOKEN", "(secret)"),
    ("RUST_LOG", "(the log filter)"),
    ("NO_COLOR", "(no colour in the logs)"),
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
        for header in shown
            .otlp
            .headers
            .iter_mut()
            .chain(shown.remote_write.headers.iter_mut())
        {
            if let Some((name, _)) = header.split_once('=') {
                *header = format!("{name}=<hidden>");
            }
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot show the configuration: {e}"))
    }

    /// Applies the variables that `get` knows: `CACHE_MAX_ITEMS`, then every
    /// key's variable by the rule of [`mod@env`] (which wins). Secrets are not
    /// read here: the binary reads `DASHBOARD_TOKEN`, `MONITOR_READ_TOKEN`
    /// and `MONITOR_ADMIN_TOKEN` itself.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the variable.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("CACHE_MAX_ITEMS").filter(|v| !v.trim().is_empty()) {
            self.cache_max_items = v.trim().parse().map_err(|_| {
                invalid(
                    "CACHE_MAX_ITEMS",
                    format!("{v:?}: give a number of servers (default 1000)"),
                )
            })?;
        }
        *self = env::apply(self, &get)?;
        Ok(())
    }

    /// A configuration from a TOML table of its keys.
    fn try_from_table(table: toml::Table) -> Result<Self, String> {
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| e.message().to_owned())
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
        self.remote_write.exporter()?;
        if self.otlp.timeout < Duration::from_secs(1) {
            return Err(invalid("otlp.timeout", "give at least 1s"));
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
        self.trusted_proxy_networks()?;
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

    /// `trusted_proxies` as networks.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the entry that is not an address or
    /// a network.
    pub fn trusted_proxy_networks(&self) -> Result<Vec<crate::limit::Network>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| p.parse().map_err(|e: String| invalid("trusted_proxies", e)))
            .collect()
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("monitor.db").display()),
        }
    }
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
mod tests;
