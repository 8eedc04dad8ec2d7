//! Sending snapshots to the server: HTTPS with rustls, a bounded on-disk
//! spool, batches in order, retries with exponential backoff and jitter.
//!
//! Every snapshot is first written to the spool directory (one file each,
//! written to a temporary name, synced, renamed, and the directory synced:
//! a crash or a power loss never leaves half a file under a real name, and
//! a snapshot counts as spooled only once it is on disk), then the oldest
//! files are sent in batches and deleted once the server acknowledged
//! them. The server's idempotency removes the duplicates a crash between
//! send and delete can cause.
//!
//! What can go wrong, and what happens:
//!
//! | event | what the agent does |
//! | --- | --- |
//! | the server is down, slow or failing (timeouts, 408, 429, 5xx) | keeps the spool and retries with backoff; with several servers, tries the next one first |
//! | the server refuses a batch for good (400, 409, 413, 422: one report too large, invalid, at a taken millisecond) | halves the batch until the refused report is alone, sends the others, and moves only that one to `rejected/` |
//! | the spool is over `spool_max_bytes` (`rejected/` counted in it) | drops the oldest rejected reports first, then the oldest spooled ones, and counts them |
//! | the spool cannot be written (a full disk) | keeps the newest snapshots in memory and sends them: the host does not go dark |
//! | a spool file is unreadable (a crash cut it) | removes it, keeps the rest |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use monitor_core::{Snapshot, wire};

/// Most snapshots sent in one request.
pub const BATCH: usize = 100;

/// How the agent reaches the server. Its `Debug` form hides the token.
#[derive(Clone)]
pub struct PushConfig {
    /// The server's base URL (`https://monitor.example:8443`).
    pub server: String,
    /// More servers, tried in order when the one that answered last does
    /// not (a standby, another server process on the same database).
    pub failover: Vec<String>,
    /// The agent token.
    pub token: String,
    /// CA bundle the server's certificate must chain to (system roots when absent).
    pub verify: Option<PathBuf>,
    /// The spool directory.
    pub spool_dir: PathBuf,
    /// Largest spool size; the oldest snapshots are dropped beyond it.
    pub spool_max_bytes: u64,
    /// Bound on each request (the agent binary uses 30 s). A request that
    /// times out makes the next ones carry fewer snapshots, so a slow link
    /// still makes progress.
    pub timeout: Duration,
}

impl std::fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConfig")
            .field("server", &self.server)
            .field("failover", &self.failover)
            .field("token", &"<hidden>")
            .field("verify", &self.verify)
            .field("spool_dir", &self.spool_dir)
            .field("spool_max_bytes", &self.spool_max_bytes)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a push attempt did not empty the spool.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The server or the network failed; retried with backoff.
    #[error("server unreachable or failing: {0}")]
    Retry(String),
    /// The token was refused: fix the configuration (not retried in a tight loop).
    #[error("the server refused the token ({0}): check --token-file/MONITOR_TOKEN and --server-id")]
    Auth(u16),
    /// The server says the agent is set up wrong (plain HTTP to its HTTPS
    /// port): fix the configuration (kept and retried every minute).
    #[error("{0}")]
    Config(String),
    /// Setting up the client failed.
    #[error("{0}")]
    Setup(String),
}

/// Sends spooled snapshots to the server.
#[derive(Debug)]
pub struct Pusher {
    config: PushConfig,
    client: reqwest::Client,
    /// The ingest URL of each server, `config.server` first.
    urls: Vec<String>,
    /// The server that answered last: tried first.
    current: std::sync::atomic::AtomicUsize,
    /// Snapshots the spool could not take (a full disk), oldest first: sent
    /// from memory after the spool's.
    held: std::sync::Mutex<std::collections::VecDeque<Snapshot>>,
    stats: PushStats,
    /// The most snapshots a request carries now: halved when a request
    /// times out (a link too slow for a whole batch within `timeout` would
    /// never make progress), grown back by a tenth after each success.
    batch_limit: std::sync::atomic::AtomicUsize,
}

/// A request that did not get an answer.
struct Unanswered {
    error: PushError,
    /// It timed out (rather than being refused or reset).
    timed_out: bool,
}

/// Snapshots kept in memory at most while the spool cannot be written.
const HELD_MAX: usize = 360;

/// What the pusher counts (the agent reports them as its own metrics).
#[derive(Debug, Default)]
pub struct PushStats {
    rejected: std::sync::atomic::AtomicU64,
    dropped: std::sync::atomic::AtomicU64,
    spool_failures: std::sync::atomic::AtomicU64,
}

/// What the pusher has counted, and its spool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushFigures {
    /// Snapshots waiting in the spool and in memory.
    pub backlog: usize,
    /// Bytes of the spool, `rejected/` included.
    pub spool_bytes: u64,
    /// Snapshots the server refused for good, moved to `rejected/`.
    pub rejected: u64,
    /// Snapshots dropped: the oldest beyond the spool's bound, or beyond
    /// what memory holds while the spool cannot be written.
    pub dropped: u64,
    /// Spool writes that failed (the snapshot was kept in memory).
    pub spool_failures: u64,
}

impl Pusher {
    /// A pusher for `config`; creates the spool directory.
    ///
    /// # Errors
    /// [`PushError::Setup`] for an unreadable CA file or spool directory.
    pub fn new(config: PushConfig) -> Result<Self, PushError> {
        std::fs::create_dir_all(&config.spool_dir)
            .map_err(|e| PushError::Setup(format!("spool {}: {e}", config.spool_dir.display())))?;
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            // Below the server's default idle timeout (30 s): an agent
            // never reuses a connection the server is closing.
            .pool_idle_timeout(Duration::from_secs(20))
            .user_agent(concat!("monitor-agent/", env!("CARGO_PKG_VERSION")));
        // reqwest needs a TLS setup even for http:// URLs; those never use it.
        let tls = if config.server.starts_with("https://") {
            monitor_collectors::export::client::tls_config(config.verify.as_deref())
                .map_err(|e| PushError::Setup(e.to_string()))?
        } else {
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| PushError::Setup(e.to_string()))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
        };
        builder = builder.tls_backend_preconfigured(tls);
        let client = builder
            .build()
            .map_err(|e| PushError::Setup(format!("HTTP client: {e}")))?;
        let urls = std::iter::once(&config.server)
            .chain(&config.failover)
            .map(|s| format!("{}/api/metrics", s.trim_end_matches('/')))
            .collect();
        // Temporary files of writes a crash cut short.
        if let Ok(entries) = std::fs::read_dir(&config.spool_dir) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Pusher {
            config,
            client,
            urls,
            current: std::sync::atomic::AtomicUsize::new(0),
            batch_limit: std::sync::atomic::AtomicUsize::new(BATCH),
            held: std::sync::Mutex::default(),
            stats: PushStats::default(),
        })
    }

    /// Writes a snapshot to the spool durably (the file and the directory
    /// synced), dropping the oldest beyond the bound.
    ///
    /// # Errors
    /// When the spool cannot be written (disk full); see [`Pusher::keep`].
    pub fn spool(&self, snapshot: &Snapshot) -> std::io::Result<()> {
        use std::io::Write;
        let body = wire::encode(snapshot)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let name = format!("{:016}.json", snapshot.timestamp.as_millis().max(0));
        let tmp = self.config.spool_dir.join(format!(".{name}.tmp"));
        let written = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, self.config.spool_dir.join(&name))?;
            std::fs::File::open(&self.config.spool_dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        self.enforce_bound();
        Ok(())
    }

    /// Spools a snapshot; when the spool cannot be written (a full disk),
    /// keeps it in memory instead (the newest 360), so that it is
    /// still sent.
    pub fn keep(&self, snapshot: Snapshot) {
        match self.spool(&snapshot) {
            Ok(()) => {}
            Err(error) => {
                let failures = self
                    .stats
                    .spool_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if failures == 0 || failures.is_power_of_two() {
                    tracing::error!(%error, failures = failures + 1, "Cannot write the spool: snapshots are kept in memory and sent from there until it can.");
                }
                let mut held = self
                    .held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if held.len() >= HELD_MAX {
                    held.pop_front();
                    self.stats
                        .dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                held.push_back(snapshot);
            }
        }
    }

    /// What the pusher counted, and its spool now.
    pub fn figures(&self) -> PushFigures {
        use std::sync::atomic::Ordering::Relaxed;
        let spooled = self.spooled();
        let rejected = self.rejected_files();
        PushFigures {
            backlog: spooled.len()
                + self
                    .held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .len(),
            spool_bytes: spooled.iter().chain(&rejected).map(|(_, s)| s).sum(),
            rejected: self.stats.rejected.load(Relaxed),
            dropped: self.stats.dropped.load(Relaxed),
            spool_failures: self.stats.spool_failures.load(Relaxed),
        }
    }

    /// Spooled files, oldest first, with their sizes.
    fn spooled(&self) -> Vec<(PathBuf, u64)> {
        let Ok(entries) = std::fs::read_dir(&self.config.spool_dir) else {
            return Vec::new();
        };
        let mut files: Vec<(PathBuf, u64)> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                (name.ends_with(".json") && !name.starts_with('.'))
                    .then(|| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            })
            .collect();
        files.sort();
        files
    }

    /// The files of `rejected/`, oldest first, with their sizes.
    fn rejected_files(&self) -> Vec<(PathBuf, u64)> {
        let Ok(entries) = std::fs::read_dir(self.config.spool_dir.join("rejected")) else {
            return Vec::new();
        };
        let mut files: Vec<(PathBuf, u64)> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                Some((e.path(), e.metadata().ok()?.len()))
            })
            .collect();
        files.sort();
        files
    }

    /// Holds the spool, `rejected/` included, to `spool_max_bytes`: the
    /// oldest rejected reports go first (the server will not take them),
    /// then the oldest spooled ones.
    fn enforce_bound(&self) {
        let rejected = self.rejected_files();
        let files = self.spooled();
        let mut total: u64 = files.iter().chain(&rejected).map(|(_, s)| s).sum();
        let mut dropped = 0;
        for (path, size) in rejected.iter().chain(&files) {
            if total <= self.config.spool_max_bytes {
                break;
            }
            if std::fs::remove_file(path).is_ok() {
                total -= size;
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.stats
                .dropped
                .fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(dropped, "Spool full: dropped the oldest snapshots.");
        }
    }

    /// Number of snapshots waiting in the spool (and in memory, when the
    /// spool could not be written).
    pub fn backlog(&self) -> usize {
        self.spooled().len()
            + self
                .held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .len()
    }

    /// Sends the spool, oldest first, in batches, then what is held in
    /// memory, until both are empty or a request fails. Returns how many
    /// snapshots the server acknowledged. A batch the server refuses for
    /// good is halved until the refused snapshot is alone; only that one is
    /// moved to `rejected/`.
    ///
    /// # Errors
    /// [`PushError::Retry`] to retry later, [`PushError::Auth`] when the
    /// token is refused.
    pub async fn flush(&self) -> Result<usize, PushError> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut sent = 0;
        let mut limit = self.batch_limit.load(Relaxed).clamp(1, BATCH);
        loop {
            let (batch, from) = self.next_batch(limit);
            if batch.is_empty() {
                return Ok(sent);
            }
            let body = wire::encode_batch(&batch).map_err(|e| PushError::Retry(e.to_string()))?;
            let (status, text) = match self
                .post(monitor_collectors::export::client::gzip(&body))
                .await
            {
                Ok(answer) => answer,
                Err(Unanswered { error, timed_out }) => {
                    if timed_out && batch.len() > 1 {
                        let smaller = batch.len() / 2;
                        tracing::info!(
                            snapshots = smaller,
                            "No answer within the request timeout: the next requests carry fewer snapshots."
                        );
                        self.batch_limit.store(smaller, Relaxed);
                    }
                    return Err(error);
                }
            };
            match status {
                200..=299 => {
                    self.acknowledged(&from);
                    sent += batch.len();
                    // After a timeout, the size grows back slowly (a tenth
                    // at a time): a link that just fits does not time out
                    // every other request.
                    let cap = self.batch_limit.load(Relaxed);
                    let cap = (cap + (cap / 10).max(1)).min(BATCH);
                    self.batch_limit.store(cap, Relaxed);
                    limit = (limit * 2).min(cap);
                }
                401 | 403 => return Err(PushError::Auth(status)),
                400 if text.contains("\"https_required\"") => {
                    // Not the API's answer: the TLS port telling a plain
                    // HTTP client what to do. Keep the snapshots.
                    return Err(PushError::Config(format!(
                        "{} serves HTTPS: give --server an https:// address",
                        self.config.server
                    )));
                }
                408 | 429 | 500..=599 => {
                    return Err(PushError::Retry(format!("HTTP {status}")));
                }
                _ if batch.len() > 1 => {
                    // One of these the server will never take: find it.
                    limit = batch.len() / 2;
                }
                _ => {
                    self.quarantine(&from);
                    tracing::error!(status, response = %text.chars().take(300).collect::<String>(), server_id = %batch[0].server_id, timestamp = %batch[0].timestamp,
                        "The server refused a snapshot for good; it was moved to the spool's rejected/ folder.");
                    limit = self.batch_limit.load(Relaxed).clamp(1, BATCH);
                }
            }
        }
    }

    /// The next snapshots to send, at most `limit`: the oldest spooled ones
    /// (an unreadable file is removed), else those held in memory.
    fn next_batch(&self, limit: usize) -> (Vec<Snapshot>, Source) {
        let files = self.spooled();
        let mut batch = Vec::with_capacity(limit.min(files.len()));
        let mut paths = Vec::with_capacity(batch.capacity());
        for (path, _) in files {
            if batch.len() == limit {
                break;
            }
            match std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok())
            {
                Some(s) => {
                    batch.push(s);
                    paths.push(path);
                }
                None => {
                    tracing::warn!(file = %path.display(), "Unreadable spool file removed.");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        if !batch.is_empty() {
            return (batch, Source::Files(paths));
        }
        let held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let batch: Vec<Snapshot> = held.iter().take(limit).cloned().collect();
        let n = batch.len();
        (batch, Source::Held(n))
    }

    /// The server took what `from` names: forget it.
    fn acknowledged(&self, from: &Source) {
        match from {
            Source::Files(paths) => {
                for p in paths {
                    let _ = std::fs::remove_file(p);
                }
            }
            Source::Held(n) => {
                let mut held = self
                    .held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for _ in 0..*n {
                    held.pop_front();
                }
            }
        }
    }

    /// The server will never take the one snapshot `from` names: into
    /// `rejected/` (within the spool's bound), counted.
    fn quarantine(&self, from: &Source) {
        self.stats
            .rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match from {
            Source::Files(paths) => {
                let rejected = self.config.spool_dir.join("rejected");
                let _ = std::fs::create_dir_all(&rejected);
                for p in paths {
                    if let Some(name) = p.file_name() {
                        let _ = std::fs::rename(p, rejected.join(name));
                    }
                }
                self.enforce_bound();
            }
            // Held because the disk is full: nowhere to keep it.
            Source::Held(_) => self.acknowledged(from),
        }
    }

    /// Posts a gzip body to the server that answered last, else to the next
    /// one that answers: its status and text. A server that fails (no
    /// answer, 5xx) is passed over for the next, if there is one.
    async fn post(&self, body: Vec<u8>) -> Result<(u16, String), Unanswered> {
        use std::sync::atomic::Ordering::Relaxed;
        let first = self.current.load(Relaxed) % self.urls.len();
        let mut last = None;
        let mut timed_out = false;
        for k in 0..self.urls.len() {
            let i = (first + k) % self.urls.len();
            let sent = self
                .client
                .post(&self.urls[i])
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .header("x-auth-token", &self.config.token)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_server_error() && k + 1 < self.urls.len() => {
                    last = Some(PushError::Retry(format!(
                        "{}: HTTP {}",
                        self.urls[i],
                        response.status()
                    )));
                }
                Ok(response) => {
                    if i != first {
                        tracing::info!(server = %self.urls[i], "Sending to another server.");
                        self.current.store(i, Relaxed);
                    }
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap_or_default();
                    return Ok((status, text));
                }
                Err(e) => {
                    timed_out |= e.is_timeout();
                    last = Some(PushError::Retry(
                        monitor_collectors::export::client::error_chain(&e),
                    ));
                }
            }
        }
        Err(Unanswered {
            error: last.unwrap_or_else(|| PushError::Retry("no server".into())),
            timed_out,
        })
    }
}

impl PushFigures {
    /// Adds these figures to `snapshot` as the agent's own metrics, so the
    /// server, its dashboard and its alert rules see a backlog growing or
    /// reports refused: `monitor_agent_spool_snapshots`,
    /// `monitor_agent_spool_bytes` (gauges), `monitor_agent_rejected_total`,
    /// `monitor_agent_dropped_total`, `monitor_agent_spool_failures_total`
    /// (counters).
    pub fn add_to(&self, snapshot: &mut Snapshot) {
        use monitor_core::{Labels, MetricFamily, MetricKind, Unit};
        let mut family = |name: &str, kind: MetricKind, unit: Unit, help: &str, value: f64| {
            if snapshot.metrics.iter().any(|f| f.name == name) {
                return;
            }
            let mut f = MetricFamily::new(name, kind, unit).with_help(help);
            f.push(Labels::new(), value);
            snapshot.metrics.push(f);
        };
        family(
            "monitor_agent_spool_snapshots",
            MetricKind::Gauge,
            Unit::COUNT,
            "Snapshots waiting to be sent (in the spool, or in memory when the spool cannot be written).",
            self.backlog as f64,
        );
        family(
            "monitor_agent_spool_bytes",
            MetricKind::Gauge,
            Unit::BYTES,
            "Bytes of the spool, rejected/ included.",
            self.spool_bytes as f64,
        );
        family(
            "monitor_agent_rejected_total",
            MetricKind::Counter,
            Unit::COUNT,
            "Snapshots the server refused for good, moved to the spool's rejected/ folder.",
            self.rejected as f64,
        );
        family(
            "monitor_agent_dropped_total",
            MetricKind::Counter,
            Unit::COUNT,
            "Snapshots dropped: the oldest beyond the spool's bound, or beyond what memory holds while the spool cannot be written.",
            self.dropped as f64,
        );
        family(
            "monitor_agent_spool_failures_total",
            MetricKind::Counter,
            Unit::COUNT,
            "Spool writes that failed (a full disk); the snapshot was kept in memory.",
            self.spool_failures as f64,
        );
    }
}

/// Where a batch came from.
enum Source {
    /// These spool files.
    Files(Vec<PathBuf>),
    /// The first n snapshots held in memory.
    Held(usize),
}

/// Exponential backoff with full jitter: 1 s doubling to 60 s.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait before the next attempt after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let cap = 60_000u64.min(1000u64 << self.failures.min(6));
        let mut byte = [0u8; 8];
        let jitter = match getrandom::fill(&mut byte) {
            Ok(()) => u64::from_le_bytes(byte) % cap.max(1),
            Err(_) => cap / 2,
        };
        Duration::from_millis(jitter.max(100))
    }

    /// Forgets the failures after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The agent's push loop: collects every `interval`, spools, and sends;
/// keeps collecting while the server is unreachable and sends the backlog in
/// order once it is back. Returns when `stop` completes, after one last
/// attempt to send what is spooled.
pub async fn run(
    agent: &mut crate::Agent,
    pusher: &Pusher,
    interval: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tracing::info!(server = %pusher.config.server, backlog = pusher.backlog(), "Pushing to the server.");
    let spooled = tokio::sync::Notify::new();
    // Collecting never waits for the network: a slow or hung server delays
    // delivery, never a collection.
    let collect = async {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticker.tick() => {}
            }
            let mut snapshot = agent.tick().await;
            pusher.figures().add_to(&mut snapshot);
            pusher.keep(snapshot);
            spooled.notify_one();
        }
    };
    let send = async {
        let mut backoff = Backoff::default();
        let mut failing = false;
        loop {
            spooled.notified().await;
            let wait = match pusher.flush().await {
                Ok(_) => {
                    if failing {
                        tracing::info!("The server accepts snapshots again; the backlog was sent.");
                        failing = false;
                    }
                    backoff.reset();
                    continue;
                }
                Err(PushError::Auth(status)) => {
                    if !failing {
                        tracing::error!(
                            status,
                            "The server refused the token: check --token-file/MONITOR_TOKEN and --server-id. Snapshots are kept in the spool; retrying every minute."
                        );
                    }
                    Duration::from_secs(60)
                }
                Err(PushError::Config(message)) => {
                    if !failing {
                        tracing::error!(
                            "{message}. Snapshots are kept in the spool; retrying every minute."
                        );
                    }
                    Duration::from_secs(60)
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, backlog = pusher.backlog(), "Cannot reach the server; snapshots are spooled and retried with backoff.");
                    }
                    backoff.next_delay()
                }
            };
            failing = true;
            // Snapshots spooled meanwhile leave a permit: the next attempt
            // follows the wait at once.
            tokio::time::sleep(wait).await;
        }
    };
    tokio::select! {
        _ = collect => {}
        _ = send => {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), pusher.flush()).await;
}
