//! [`ProbeCollector`]: checks that a service answers, from the agent's
//! host, as blackbox_exporter does: an HTTP(S) request (the status, how
//! long the answer took, how long the server's certificate has left) or a
//! TCP connection.
//!
//! Each probe runs on its own interval in a task of its own, so a slow or
//! unreachable target never holds up a collection: a collection reports
//! each probe's last result. A probe that has not finished its first check
//! reports nothing yet. Metrics (label `probe`, the probe's name):
//! `probe_success` (1 or 0), `probe_duration_seconds`,
//! `probe_http_status_code` (HTTP probes that got an answer) and
//! `probe_tls_cert_expires_in_seconds` (`https://` probes that got a
//! certificate; computed at each collection, negative once expired).
//!
//! An HTTP probe succeeds when the answer's status (after at most 10
//! redirects) is one of `expect_status`, or any 2xx when that list is empty,
//! and the certificate, for `https://`, is valid: chained to the system's
//! roots or to `ca_file`, for the host name, and not expired. The time is
//! to the answer's headers; the body is not read. A TCP probe succeeds when
//! the connection is accepted within the timeout (name resolution
//! included).
//!
//! A probe's failure is logged once, with its cause, when it starts
//! failing, and its recovery once.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use monitor_core::model::is_valid_label_value;
use monitor_core::names;
use monitor_core::{CollectContext, CollectError, Collection, Collector, Labels, Timestamp, Unit};
use tokio::task::JoinSet;

/// How long a probe waits between two checks unless told otherwise.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a check may take unless told otherwise.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    /// An `http://` or `https://` URL, requested with `GET`.
    Http(String),
    /// A TCP connection to `host:port`.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// The port.
        port: u16,
    },
}

impl ProbeTarget {
    /// Reads `http://…`, `https://…` or `tcp://host:port` (`tcp://[::1]:22`
    /// for an IPv6 address).
    ///
    /// # Errors
    /// [`ProbeError`] saying which forms are accepted, or what is wrong with
    /// the URL or the port.
    pub fn parse(target: &str) -> Result<ProbeTarget, ProbeError> {
        let target = target.trim();
        if let Some(rest) = target.strip_prefix("tcp://") {
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
                ProbeError(format!("{target:?}: a TCP target is tcp://host:port"))
            })?;
            let host = host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host);
            if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
                return Err(ProbeError(format!(
                    "{target:?}: a TCP target is tcp://host:port, with a host name or an IP address"
                )));
            }
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    ProbeError(format!(
                        "{target:?}: the port must be a number from 1 to 65535"
                    ))
                })?;
            return Ok(ProbeTarget::Tcp {
                host: host.to_owned(),
                port,
            });
        }
        if target.starts_with("http://") || target.starts_with("https://") {
            let url =
                reqwest::Url::parse(target).map_err(|e| ProbeError(format!("{target:?}: {e}")))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(ProbeError(format!("{target:?}: the URL has no host")));
            }
            return Ok(ProbeTarget::Http(url.to_string()));
        }
        Err(ProbeError(format!(
            "{target:?}: a probe target is an http:// or https:// URL, or tcp://host:port"
        )))
    }

    fn is_https(&self) -> bool {
        matches!(self, ProbeTarget::Http(url) if url.starts_with("https://"))
    }
}

impl std::fmt::Display for ProbeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeTarget::Http(url) => f.write_str(url),
            ProbeTarget::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            ProbeTarget::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

/// One probe: what to check, how often, and what counts as success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// The value of the `probe` label: a label value (at most 255 bytes of
    /// visible text), unique among the agent's probes.
    pub name: String,
    /// What to check.
    pub target: ProbeTarget,
    /// Time between two checks ([`DEFAULT_PROBE_INTERVAL`]); at least one
    /// second.
    pub interval: Duration,
    /// Longest a check may take ([`DEFAULT_PROBE_TIMEOUT`]); a check cut off
    /// fails.
    pub timeout: Duration,
    /// The HTTP statuses that count as success; empty: any 2xx.
    pub expect_status: Vec<u16>,
    /// PEM file of the CA (or the exact self-signed certificate) an
    /// `https://` target's certificate must chain to, instead of the
    /// system's roots.
    pub ca_file: Option<PathBuf>,
}

impl ProbeConfig {
    /// A probe of `target` (see [`ProbeTarget::parse`]) with the defaults,
    /// named after its target.
    ///
    /// # Errors
    /// [`ProbeError`] for a target in another form.
    pub fn new(target: &str) -> Result<ProbeConfig, ProbeError> {
        let target = ProbeTarget::parse(target)?;
        Ok(ProbeConfig {
            name: target.to_string(),
            target,
            interval: DEFAULT_PROBE_INTERVAL,
            timeout: DEFAULT_PROBE_TIMEOUT,
            expect_status: Vec::new(),
            ca_file: None,
        })
    }

    /// Checks the settings together.
    ///
    /// # Errors
    /// [`ProbeError`] naming the probe and the setting to fix.
    pub fn validate(&self) -> Result<(), ProbeError> {
        let fail = |what: String| Err(ProbeError(format!("probe {:?}: {what}", self.name)));
        if self.name.is_empty() || !is_valid_label_value(&self.name) {
            return fail(
                "the name must be 1 to 255 bytes of visible text (give a shorter `name` to a long URL)"
                    .into(),
            );
        }
        if self.interval < Duration::from_secs(1) {
            return fail("the interval must be at least 1s".into());
        }
        if self.timeout.is_zero() {
            return fail("the timeout must be more than 0s".into());
        }
        if let Some(bad) = self
            .expect_status
            .iter()
            .find(|s| !(100..=599).contains(*s))
        {
            return fail(format!(
                "expect_status {bad} is not an HTTP status (100 to 599)"
            ));
        }
        if !self.expect_status.is_empty() && !matches!(self.target, ProbeTarget::Http(_)) {
            return fail("expect_status is for http:// and https:// probes".into());
        }
        if self.ca_file.is_some() && !self.target.is_https() {
            return fail("ca_file is for https:// probes".into());
        }
        Ok(())
    }
}

/// A probe's configuration is wrong (the message names the probe and the
/// setting).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(String);

/// The result of a probe's last check.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    success: bool,
    duration: Duration,
    status: Option<u16>,
    /// The server certificate's notAfter, seconds since the epoch.
    not_after: Option<i64>,
    /// Why it failed.
    error: Option<String>,
}

/// Runs probes (see the module docs).
#[derive(Debug)]
pub struct ProbeCollector {
    probes: Vec<Arc<Probe>>,
    results: Arc<Mutex<Vec<Option<Outcome>>>>,
    /// The probes' tasks, started by the first collection (which runs in
    /// the agent's runtime); dropping the collector stops them.
    tasks: Option<JoinSet<()>>,
}

#[derive(Debug)]
struct Probe {
    config: ProbeConfig,
    /// For HTTP probes.
    client: Option<reqwest::Client>,
}

impl ProbeCollector {
    /// A collector for `probes`: checks each one's settings and builds its
    /// HTTP client (reading its `ca_file`).
    ///
    /// # Errors
    /// [`ProbeError`] for invalid settings, two probes of one name, or an
    /// unreadable CA file.
    pub fn new(probes: Vec<ProbeConfig>) -> Result<Self, ProbeError> {
        let mut built = Vec::with_capacity(probes.len());
        for config in probes {
            config.validate()?;
            if built
                .iter()
                .any(|p: &Arc<Probe>| p.config.name == config.name)
            {
                return Err(ProbeError(format!(
                    "two probes are named {:?}: give each a name of its own",
                    config.name
                )));
            }
            let client = match &config.target {
                ProbeTarget::Http(_) => Some(http_client(&config)?),
                ProbeTarget::Tcp { .. } => None,
            };
            built.push(Arc::new(Probe { config, client }));
        }
        Ok(ProbeCollector {
            results: Arc::new(Mutex::new(vec![None; built.len()])),
            probes: built,
            tasks: None,
        })
    }

    fn start(&mut self) {
        let mut tasks = JoinSet::new();
        for (i, probe) in self.probes.iter().enumerate() {
            let probe = Arc::clone(probe);
            let results = Arc::clone(&self.results);
            tasks.spawn(async move {
                let mut ticks = tokio::time::interval(probe.config.interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut last_success = None;
                loop {
                    ticks.tick().await;
                    let outcome = probe.check().await;
                    log_change(&probe.config, last_success, &outcome);
                    last_success = Some(outcome.success);
                    if let Some(slot) = results
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get_mut(i)
                    {
                        *slot = Some(outcome);
                    }
                }
            });
        }
        self.tasks = Some(tasks);
    }
}

fn http_client(config: &ProbeConfig) -> Result<reqwest::Client, ProbeError> {
    let setting = format!("probe {:?}: ca_file", config.name);
    let tls = crate::export::client::tls_config_for(&setting, config.ca_file.as_deref())
        .map_err(|e| ProbeError(e.to_string()))?;
    reqwest::Client::builder()
        .timeout(config.timeout)
        // Each check opens a connection of its own: its time includes the
        // connection and the handshake, and it sees the current certificate.
        .pool_max_idle_per_host(0)
        .tls_info(true)
        .tls_backend_preconfigured(tls)
        .user_agent(concat!(
            "monitor-agent/",
            env!("CARGO_PKG_VERSION"),
            " (probe)"
        ))
        .build()
        .map_err(|e| ProbeError(format!("probe {:?}: HTTP client: {e}", config.name)))
}

fn log_change(config: &ProbeConfig, last_success: Option<bool>, outcome: &Outcome) {
    match (last_success, outcome.success) {
        (Some(false), true) => {
            tracing::info!(probe = %config.name, target = %config.target, "probe succeeds again");
        }
        (None | Some(true), false) => tracing::warn!(
            probe = %config.name,
            target = %config.target,
            error = outcome.error.as_deref().unwrap_or("unknown"),
            "probe failing"
        ),
        _ => {}
    }
}

impl Probe {
    async fn check(&self) -> Outcome {
        let start = Instant::now();
        match (&self.config.target, &self.client) {
            (ProbeTarget::Http(url), Some(client)) => {
                let answer = client.get(url).send().await;
                let duration = start.elapsed();
                match answer {
                    Ok(response) => self.judge(response, duration),
                    Err(e) => failed(duration, None, error_chain(&e)),
                }
            }
            (ProbeTarget::Tcp { host, port }, _) => {
                let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
                let result = tokio::time::timeout(self.config.timeout, connect).await;
                let duration = start.elapsed();
                match result {
                    Ok(Ok(_stream)) => Outcome {
                        success: true,
                        duration,
                        status: None,
                        not_after: None,
                        error: None,
                    },
                    Ok(Err(e)) => failed(duration, None, format!("connect: {e}")),
                    Err(_) => failed(
                        duration,
                        None,
                        format!("no connection within {:?}", self.config.timeout),
                    ),
                }
            }
            (ProbeTarget::Http(_), None) => failed(
                Duration::ZERO,
                None,
                "no HTTP client (a bug: ProbeCollector::new builds one)".into(),
            ),
        }
    }

    fn judge(&self, response: reqwest::Response, duration: Duration) -> Outcome {
        let status = response.status().as_u16();
        let not_after = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(reqwest::tls::TlsInfo::peer_certificate)
            .and_then(certificate_not_after);
        let expected = if self.config.expect_status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.config.expect_status.contains(&status)
        };
        let now = Timestamp::now().as_millis() / 1000;
        let error = if let Some(at) = not_after.filter(|at| *at <= now) {
            Some(format!(
                "the server's certificate expired at {}",
                Timestamp::from_secs(at).to_rfc3339()
            ))
        } else if !expected {
            Some(format!("HTTP status {status} is not an expected one"))
        } else {
            None
        };
        Outcome {
            success: error.is_none(),
            duration,
            status: Some(status),
            not_after,
            error,
        }
    }
}

fn failed(duration: Duration, status: Option<u16>, error: String) -> Outcome {
    Outcome {
        success: false,
        duration,
        status,
        not_after: None,
        error: Some(error),
    }
}

/// The error and its causes, `: `-separated: reqwest's own message is only
/// "error sending request for url (…)".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let more = e.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = e.source();
    }
    text
}

/// The notAfter of a DER certificate, in seconds since the epoch.
fn certificate_not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

#[async_trait]
impl Collector for ProbeCollector {
    fn name(&self) -> &str {
        "probe"
    }

    async fn collect(&mut self, ctx: &CollectContext) -> Result<Collection, CollectError> {
        if self.tasks.is_none() {
            self.start();
        }
        let now = ctx.now.as_millis() / 1000;
        let mut collection = Collection::new();
        let results = self.results.lock().unwrap_or_else(PoisonError::into_inner);
        for (probe, outcome) in self.probes.iter().zip(results.iter()) {
            let Some(outcome) = outcome else { continue };
            let labels = || Labels::new().with(names::label::PROBE, probe.config.name.as_str());
            let success = if outcome.success { 1.0 } else { 0.0 };
            collection.gauge(names::PROBE_SUCCESS, Unit::NONE, labels(), success);
            collection.gauge(
                names::PROBE_DURATION_SECONDS,
                Unit::SECONDS,
                labels(),
                outcome.duration.as_secs_f64(),
            );
            if let Some(status) = outcome.status {
                collection.gauge(
                    names::PROBE_HTTP_STATUS_CODE,
                    Unit::NONE,
                    labels(),
                    f64::from(status),
                );
            }
            if let Some(at) = outcome.not_after {
                #[expect(clippy::cast_precision_loss, reason = "seconds fit a f64 exactly")]
                let left = at.saturating_sub(now) as f64;
                collection.gauge(
                    names::PROBE_TLS_CERT_EXPIRES_IN_SECONDS,
                    Unit::SECONDS,
                    labels(),
                    left,
                );
            }
        }
        Ok(collection)
    }

    async fn shutdown(&mut self) -> Result<(), CollectError> {
        if let Some(mut tasks) = self.tasks.take() {
            tasks.shutdown().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_in_each_form() {
        assert_eq!(
            ProbeTarget::parse("tcp://db.internal:5432"),
            Ok(ProbeTarget::Tcp {
                host: "db.internal".into(),
                port: 5432
            })
        );
        let v6 = ProbeTarget::parse("tcp://[::1]:22").unwrap();
        assert_eq!(
            v6,
            ProbeTarget::Tcp {
                host: "::1".into(),
                port: 22
            }
        );
        assert_eq!(v6.to_string(), "tcp://[::1]:22");
        assert_eq!(
            ProbeTarget::parse("https://example.com"),
            Ok(ProbeTarget::Http("https://example.com/".into()))
        );
        for (bad, says) in [
            ("", "http:// or https:// URL, or tcp://host:port"),
            (
                "ftp://example.com",
                "http:// or https:// URL, or tcp://host:port",
            ),
            (
                "example.com:80",
                "http:// or https:// URL, or tcp://host:port",
            ),
            ("tcp://example.com", "tcp://host:port"),
            ("tcp://:80", "with a host name"),
            ("tcp://example.com:0", "from 1 to 65535"),
            ("tcp://example.com:70000", "from 1 to 65535"),
            ("tcp://example.com:http", "from 1 to 65535"),
            ("http://", "http://"),
            ("https://exa mple.com/", "invalid"),
        ] {
            let error = ProbeTarget::parse(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }

    #[test]
    fn settings_are_checked_together() {
        let probe = |target: &str| ProbeConfig::new(target).unwrap();
        assert!(probe("https://example.com/health").validate().is_ok());
        let mut long = probe(&format!("https://example.com/{}", "a".repeat(300)));
        assert!(
            long.validate()
                .unwrap_err()
                .to_string()
                .contains("shorter `name`")
        );
        long.name = "example".into();
        assert!(long.validate().is_ok());
        let mut p = probe("tcp://localhost:22");
        p.expect_status = vec![200];
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("expect_status is for")
        );
        let mut p = probe("http://localhost/");
        p.ca_file = Some("/etc/ca.pem".into());
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("ca_file is for https://")
        );
        let mut p = probe("http://localhost/");
        p.expect_status = vec![200, 1000];
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("1000 is not")
        );
        let mut p = probe("http://localhost/");
        p.interval = Duration::from_millis(500);
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("at least 1s")
        );
        let mut p = probe("http://localhost/");
        p.name = "bad\u{202e}name".into();
        assert!(p.validate().is_err());
        let twice = ProbeCollector::new(vec![probe("tcp://a:1"), probe("tcp://a:1")]);
        assert!(
            twice
                .unwrap_err()
                .to_string()
                .contains("two probes are named")
        );
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let mut p = ProbeConfig::new("https://localhost/").unwrap();
        p.ca_file = Some("/nonexistent/ca.pem".into());
        let error = ProbeCollector::new(vec![p]).unwrap_err().to_string();
        assert!(error.contains("ca_file /nonexistent/ca.pem"), "{error}");
    }
}
