//! [`Server`] and its builder: everything `monitor-server` runs, assembled
//! from a configuration, a store, notifiers and exporters. The stock binary
//! is this builder and a command line; a server of your own is a short
//! `main`:
//!
//! ```no_run
//! use std::sync::Arc;
//! use monitor_core::testing::RecordingNotifier;
//! use monitor_server::config::ServerConfig;
//! use monitor_server::server::Server;
//!
//! # async fn run() -> Result<(), monitor_server::server::ServerError> {
//! let mut config = ServerConfig::default();
//! config.listen = "127.0.0.1:8001".parse().expect("an address");
//! let server = Server::builder()
//!     .with_config(config)
//!     .with_notifier(Arc::new(RecordingNotifier::new()))
//!     .build()
//!     .await?;
//! server.serve(std::future::pending()).await
//! # }
//! ```
//!
//! What `build` does, in order: checks the configuration; opens the store
//! (the one given, or the database of `database_url`: SQLite in `data_dir`
//! by default); finds the admin token (given, `tokens.admin_token_file`, or
//! generated once in `<data_dir>/admin.token`, mode 0600; an empty or short
//! file is refused), the dashboard token (given or
//! `tokens.dashboard_token_file`) and the read-only token (given or
//! `tokens.read_token_file`; with neither, reads are open); sets up
//! TLS (`tls.*`); starts the alert engine with the webhooks of `[alerts]`
//! and the notifiers given; starts a queue that hands stored reports to
//! the exporters given, the OTLP relay of `[otlp]` and remote write of
//! `[remote_write]` among them.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use monitor_core::{Catalog, Exporter, Notifier, Store};

use crate::api::AppState;
use crate::auth::{Scope, Token};
use crate::config::{ConfigError, ServerConfig};
use crate::storage::Storage;

/// Why a server could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] monitor_core::StoreError),
    /// A file or the network failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A token is unusable.
    #[error("{0}")]
    Token(String),
    /// A notifier or exporter of the configuration could not be made.
    #[error("{0}")]
    Plugin(String),
}

impl ServerError {
    /// True when starting again cannot help until someone changes the
    /// configuration or a file it names: a setting, the TLS files, a token,
    /// a webhook, a database URL or a database of a newer version. False
    /// for what may pass (the database unreachable, a full disk, a port in
    /// use). The binary exits with 78 (`EX_CONFIG`) on the first kind,
    /// which the systemd unit does not restart.
    pub fn is_configuration(&self) -> bool {
        use monitor_core::StoreError;
        match self {
            ServerError::Config(_)
            | ServerError::Tls(_)
            | ServerError::Token(_)
            | ServerError::Plugin(_) => true,
            ServerError::Store(e) => matches!(
                e,
                StoreError::InvalidInput(_) | StoreError::SchemaTooNew { .. }
            ),
            ServerError::Io { .. } => false,
        }
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// Assembles a [`Server`]; see the module docs.
#[derive(Default)]
pub struct ServerBuilder {
    config: ServerConfig,
    store: Option<Arc<dyn Store>>,
    catalog: Option<Arc<dyn Catalog>>,
    notifiers: Vec<Arc<dyn Notifier>>,
    exporters: Vec<Box<dyn Exporter>>,
    admin: Option<Token>,
    dashboard: Option<Token>,
    read: Option<Token>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("listen", &self.config.listen)
            .field("store", &self.store.as_ref().map(|s| s.name().to_owned()))
            .field(
                "notifiers",
                &self.notifiers.iter().map(|n| n.name()).collect::<Vec<_>>(),
            )
            .field(
                "exporters",
                &self.exporters.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Every setting (default: [`ServerConfig::default`]).
    pub fn with_config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// A metric store of yours: the metrics go there, and the server's
    /// own state (servers, tokens, alert rules and events, settings) stays
    /// in the database of `database_url` unless
    /// [`ServerBuilder::with_catalog`] gives another. [`Server::serve`]
    /// enforces `retention` on it at start and every hour
    /// ([`Store::enforce_retention`]). See `docs/writing-plugins.md`.
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// A catalog of yours for the server's own state, instead of the
    /// database of `database_url`.
    pub fn with_catalog(mut self, catalog: Arc<dyn Catalog>) -> Self {
        self.catalog = Some(catalog);
        self
    }

    /// One object as both the metric store and the catalog (a
    /// `monitor_store::SqlStore` opened yourself,
    /// `monitor_core::testing::MemoryStore` in tests).
    pub fn with_storage<S: Store + Catalog + 'static>(self, store: Arc<S>) -> Self {
        self.with_store(Arc::clone(&store) as Arc<dyn Store>)
            .with_catalog(store)
    }

    /// A notifier for alerts, beside the webhooks of `[alerts]`.
    pub fn with_notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifiers.push(notifier);
        self
    }

    /// An exporter given every accepted snapshot (from a queue: a slow
    /// exporter never delays ingest; when the queue is full, snapshots are
    /// dropped for it with a warning). A batch replayed whole by an agent
    /// is not given again; one replayed in part may bring snapshots the
    /// exporter saw before, so an exporter that must not count twice keys
    /// on server and timestamp.
    pub fn with_exporter(mut self, exporter: Box<dyn Exporter>) -> Self {
        self.exporters.push(exporter);
        self
    }

    /// The admin token (the binary passes `MONITOR_ADMIN_TOKEN`).
    pub fn with_admin_token(mut self, token: Token) -> Self {
        self.admin = Some(token);
        self
    }

    /// The dashboard token (the binary passes `DASHBOARD_TOKEN`): it reads
    /// everything and changes alert thresholds, rules and silences.
    pub fn with_dashboard_token(mut self, token: Token) -> Self {
        self.dashboard = Some(token);
        self
    }

    /// A read-only token (the binary passes `MONITOR_READ_TOKEN`): it reads
    /// everything and changes nothing, for wallboards, Prometheus and
    /// Grafana.
    pub fn with_read_token(mut self, token: Token) -> Self {
        self.read = Some(token);
        self
    }

    /// Builds the server (see the module docs).
    ///
    /// # Errors
    /// [`ServerError`] naming what is wrong: a setting, a file, TLS, the
    /// store.
    pub async fn build(self) -> Result<Server, ServerError> {
        let config = self.config;
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(io(format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )))?;
        let mut ca = None;
        // The names this server answers to: its certificate's and those
        // listed (IP addresses and localhost always).
        let mut names = config.tls.names.clone();
        let tls = if config.tls.self_signed {
            let files = crate::tls::self_signed(&config.data_dir.join("tls"), &config.tls.names)?;
            let tls = crate::tls::server_config(&files.cert, &files.key)?;
            names.extend(crate::tls::certificate_names(&files.cert));
            ca = Some(files.ca);
            Some(tls)
        } else if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
            let tls = crate::tls::server_config(cert, key)?;
            names.extend(crate::tls::certificate_names(cert));
            Some(tls)
        } else {
            None
        };
        let hosts = crate::guard::HostPolicy::new(names, config.allowed_hosts.iter().cloned());
        // The SQL store enforces retention in its writer task; a store given
        // has it enforced by the server.
        let enforce_retention = self.store.is_some();
        let (storage, stats) = open_storage(&config, self.store, self.catalog).await?;
        let (admin, admin_file) = match self.admin {
            Some(token) => (token, None),
            None => admin_token(&config)?,
        };
        let dashboard = match self.dashboard {
            Some(token) => Some(token),
            None => match &config.tokens.dashboard_token_file {
                Some(path) => Some(read_secret(path, "tokens.dashboard_token_file")?),
                None => None,
            },
        };
        let read = match self.read {
            Some(token) => Some(token),
            None => match &config.tokens.read_token_file {
                Some(path) => Some(read_secret(path, "tokens.read_token_file")?),
                None => None,
            },
        };
        if dashboard.is_none() && read.is_none() && !config.listen.ip().is_loopback() {
            tracing::warn!(
                "Neither DASHBOARD_TOKEN nor MONITOR_READ_TOKEN is set: anyone who reaches this address can read every server's metrics and change alert settings."
            );
        }
        let mut state = AppState::new(storage.clone(), &admin, dashboard.as_ref())
            .with_hosts(hosts)
            .with_limits(&config.limits)
            .with_retention(&config.retention)
            .with_stream_limits(&config.stream);
        if let Some(read) = &read {
            state = state.with_read_token(read);
        }
        if let Some(stats) = stats {
            state = state.with_store_stats(stats);
        }
        let hub = state.stream_hub();
        let mut notifiers = webhooks(&config.alerts)?;
        notifiers.extend(self.notifiers);
        let settings = &config.alerts;
        let alerts = crate::alerts::Alerts::start(
            storage.clone(),
            Arc::clone(&hub),
            crate::alerts::AlertOptions {
                notifiers,
                repeat_every: (!settings.repeat_every.is_zero()).then_some(settings.repeat_every),
                dashboard_url: (!settings.dashboard_url.is_empty())
                    .then(|| settings.dashboard_url.clone()),
                retry_base: std::time::Duration::ZERO,
                retry_for: settings.retry_for,
                // 30 s, or longer than the longest webhook's own timeout.
                notify_timeout: settings
                    .webhooks
                    .iter()
                    .map(|w| std::time::Duration::from_secs(w.timeout_secs.saturating_add(5)))
                    .fold(std::time::Duration::from_secs(30), std::cmp::max),
            },
        )
        .await?;
        let mut state = state.with_alerts(alerts.clone());
        if storage.catalog().watch(state.catalog_change_handler()) {
            tracing::info!(
                "Sharing the catalog with other server processes: their token, server and alert changes apply here at once."
            );
        }
        #[cfg(feature = "postgres")]
        share_with_other_processes(&config, &state, &alerts).await?;
        let mut exporters = self.exporters;
        if let Some(otlp) = config.otlp.exporter()? {
            let (url, interval) = (otlp.url(), otlp.interval);
            let relay =
                monitor_collectors::export::otlp::OtlpRelay::new(otlp, config.otlp.capacity)
                    .map_err(|e| ServerError::Plugin(format!("otlp: {e}")))?;
            tracing::info!(%url, ?interval, "Relaying every report over OTLP.");
            exporters.push(Box::new(relay));
        }
        if let Some(remote) = config.remote_write.exporter()? {
            let url = remote.url.clone();
            let exporter =
                monitor_collectors::export::remote_write::RemoteWriteExporter::new(remote)
                    .map_err(|e| ServerError::Plugin(format!("remote_write: {e}")))?;
            tracing::info!(%url, "Writing every report to Prometheus remote write.");
            exporters.push(Box::new(exporter));
        }
        if !exporters.is_empty() {
            state = state.with_exporters(crate::fanout::ExportQueue::start(exporters));
        }
        Ok(Server {
            config,
            storage,
            state,
            tls,
            admin_file,
            ca,
            enforce_retention,
        })
    }
}

/// A server ready to serve: its router, store and files.
pub struct Server {
    config: ServerConfig,
    storage: Storage,
    state: AppState,
    tls: Option<Arc<rustls::ServerConfig>>,
    admin_file: Option<PathBuf>,
    ca: Option<PathBuf>,
    /// Whether [`Server::serve`] enforces retention on the store (one given
    /// to [`ServerBuilder::with_store`]) at start and hourly.
    enforce_retention: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.config.listen)
            .field("tls", &self.tls.is_some())
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with the defaults.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The settings it runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Its metric store and catalog.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Its ingest pipeline, for reports made in this process (the
    /// quickstart's local agent): the same checks, store, alerts, live
    /// stream and exporters as `POST /api/metrics`.
    pub fn ingest(&self) -> crate::ingest::Ingest {
        self.state.ingest().clone()
    }

    /// The router (API, `/metrics`, the dashboard), to serve yourself or
    /// to test with `tower::ServiceExt::oneshot`.
    pub fn router(&self) -> axum::Router {
        crate::api::router(self.state.clone())
    }

    /// Where the admin token was read or generated, when from a file.
    pub fn admin_token_file(&self) -> Option<&Path> {
        self.admin_file.as_deref()
    }

    /// The local CA of `tls.self_signed` (for agents' `--verify`).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// Serves on `listen` until `shutdown` completes: then ends the live
    /// streams, lets requests in progress finish, and flushes the store.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the address cannot be bound;
    /// [`ServerError::Store`] when the final flush fails.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServerError> {
        let listen = self.config.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(io(format!("cannot listen on {listen}")))?;
        tracing::info!(
            address = %listen,
            tls = self.tls.is_some(),
            max_connections = self.config.limits.max_connections,
            "Listening."
        );
        let hub = self.state.stream_hub();
        let shutdown = async move {
            shutdown.await;
            hub.close();
        };
        let retention = self.enforce_retention.then(|| {
            retention(
                Arc::clone(self.storage.metrics()),
                self.config.retention.policy(),
            )
        });
        let mut options = self.config.limits.serve_options(self.tls.clone());
        // Checked when the configuration was.
        options.trusted_proxies = self.config.trusted_proxy_networks()?;
        let served = crate::serve::serve(listener, self.router(), options, shutdown).await;
        if let Some(task) = retention {
            task.abort();
        }
        served.map_err(io("the HTTP server failed"))?;
        tracing::info!("Shutting down: flushing the store.");
        // The requests have ended: no transition comes after these.
        if tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.state.settle_alerts(),
        )
        .await
        .is_err()
        {
            tracing::warn!("The alert engine did not store its last transitions within 10 s.");
        }
        self.state.flush_exporters().await;
        self.storage.shutdown().await?;
        Ok(())
    }
}

/// How long a leading process sent a report cut for other alert rules
/// than its own asks for whole reports, in milliseconds.
#[cfg(feature = "postgres")]
const WHOLE_REPORTS_FOR_MS: i64 = 60_000;

/// What a follower reads of another process's report: who reported, when,
/// and how often it reports.
#[cfg(feature = "postgres")]
#[derive(serde::Deserialize)]
struct ReportHead {
    server_id: monitor_core::ServerId,
    timestamp: monitor_core::Timestamp,
    #[serde(default)]
    interval_secs: Option<f64>,
}

/// On PostgreSQL, what the server processes sharing the database share
/// besides it: the live stream (`monitor_store::bus`: every event
/// published here reaches their dashboards, and theirs reach this one's),
/// and alert evaluation, which one of them leads (`monitor_store::lease`):
/// the leader evaluates every process's reports (the others' through the
/// bus) and alone delivers notifications, so each transition is notified
/// once; when it dies another takes over within seconds, from the states
/// it saved.
///
/// What crosses the bus depends on who wants it: while another process's
/// dashboards are watched, every live event (a whole report serves the
/// leader's evaluation too); otherwise only a follower's reports, cut to
/// what the leader evaluates ([`crate::alerts::Alerts::input`]): neither
/// the leader's reports (a process that takes over reads when each host
/// last reported from the database) nor alert transitions (the others
/// read the states the leader saves). A leader sent a report cut for other
/// rules than its own says it is watched for [`WHOLE_REPORTS_FOR_MS`], so
/// that whole reports come.
#[cfg(feature = "postgres")]
async fn share_with_other_processes(
    config: &ServerConfig,
    state: &crate::api::AppState,
    alerts: &crate::alerts::Alerts,
) -> Result<(), ServerError> {
    let url = config.database_url();
    if !url.starts_with("postgres") {
        return Ok(());
    }
    let hub = state.stream_hub();
    let receiving = Arc::clone(&hub);
    let watched = Arc::clone(&hub);
    let evaluating = alerts.clone();
    // Until when (ms since the epoch) this process, leading, asks for
    // whole reports: another cut one for other rules than its own.
    let whole_until = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let asking = Arc::clone(&whole_until);
    let bus = monitor_store::bus::Bus::connect(
        &url,
        Arc::new(move |kind: &str, text: String| {
            let kind = match kind {
                "snapshot" => {
                    // The leader's evaluation input; a follower's view of
                    // when each host was last seen, for which it reads
                    // only the report's head (the whole of it costs a
                    // follower more than its own reports' evaluation).
                    if evaluating.is_leading() {
                        match serde_json::from_str::<monitor_core::Snapshot>(&text) {
                            Ok(snapshot) => evaluating.evaluate(&snapshot),
                            Err(error) => {
                                tracing::warn!(%error, "A live report from another process cannot be read.");
                            }
                        }
                    } else {
                        match serde_json::from_str::<ReportHead>(&text) {
                            Ok(head) => evaluating.seen(&head.server_id, head.timestamp, head.interval_secs),
                            Err(error) => {
                                tracing::warn!(%error, "A live report from another process cannot be read.");
                            }
                        }
                    }
                    "snapshot"
                }
                // For the leader's evaluation only.
                "input" => {
                    if !evaluating.evaluate_input(&text) {
                        let now = monitor_core::Timestamp::now().as_millis();
                        if asking.swap(
                            now + WHOLE_REPORTS_FOR_MS,
                            std::sync::atomic::Ordering::Relaxed,
                        ) < now {
                            tracing::warn!(
                                "Another server process cuts its reports for other alert rules than this one's (rules changed a moment ago, or it runs another version): asking for whole reports for a minute."
                            );
                        }
                    }
                    return;
                }
                "alert" => "alert",
                _ => return,
            };
            receiving.publish_forwarded(kind, crate::stream::Payload::ready(text));
        }),
        // Whole reports for this process's dashboards, or while it asks.
        Arc::new(move || {
            watched.watched()
                || whole_until.load(std::sync::atomic::Ordering::Relaxed) > monitor_core::Timestamp::now().as_millis()
        }),
    )
    .await?;
    let bus = Arc::new(bus);
    let announcing = Arc::clone(&bus);
    hub.on_first_client(move || announcing.announce());
    // Live events go only to processes whose dashboards are watched (the
    // text made only then); otherwise a follower's reports go to the
    // leader cut to what its rules read, and nothing else goes.
    let forwarding = alerts.clone();
    hub.forward_to(move |kind, payload| {
        if !bus.has_peers() {
            return;
        }
        if bus.peers_watching() {
            bus.send(kind, payload.text().to_owned());
        } else if let Some(snapshot) = payload.snapshot()
            && !forwarding.is_leading()
        {
            bus.send("input", forwarding.input(snapshot));
        }
    });
    tracing::info!("Sharing live events with the other server processes on this database.");

    let mut leading = monitor_store::lease::spawn(url, monitor_store::lease::ALERTS);
    // The first attempt decides at once whether a lone process leads.
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), leading.changed())
        .await
        .is_ok_and(|changed| changed.is_ok())
        && *leading.borrow_and_update();
    if first {
        tracing::info!("This process leads alert evaluation and notification.");
    } else {
        alerts.follow();
        tracing::info!(
            "Another server process leads alert evaluation and notification; this one takes over if it stops."
        );
    }
    let alerts = alerts.clone();
    tokio::spawn(async move {
        let mut led = first;
        while leading.changed().await.is_ok() {
            let now = *leading.borrow_and_update();
            if now && !led {
                match alerts.lead().await {
                    Ok(()) => {
                        tracing::warn!("This process took over alert evaluation and notification.");
                        led = true;
                    }
                    // Tried again after the lease's next check.
                    Err(error) => {
                        tracing::warn!(%error, "Could not take over alert evaluation yet.");
                    }
                }
            } else if !now && led {
                alerts.follow();
                led = false;
                tracing::warn!(
                    "This process no longer leads alert evaluation (the database connection of its lease was lost)."
                );
            }
        }
    });
    Ok(())
}

/// The metric store and the catalog: those given, the database of
/// `database_url` for what is not (with the writer's figures for
/// `/metrics` when it keeps the metrics).
async fn open_storage(
    config: &ServerConfig,
    store: Option<Arc<dyn Store>>,
    catalog: Option<Arc<dyn Catalog>>,
) -> Result<(Storage, Option<crate::metrics::StoreStats>), ServerError> {
    let open_sql = || async {
        let mut options = monitor_store::StoreOptions::from_url(&config.database_url())?;
        options.latest_in_memory = config.cache_max_items;
        options.max_series_per_server = config.limits.max_series_per_server;
        options.retention = config.retention.policy();
        Ok::<_, ServerError>(Arc::new(monitor_store::SqlStore::open(options).await?))
    };
    Ok(match (store, catalog) {
        (Some(store), Some(catalog)) => (Storage::new(store, catalog), None),
        (Some(store), None) => (Storage::new(store, open_sql().await?), None),
        (None, catalog) => {
            let sql = open_sql().await?;
            let stats = Arc::clone(&sql);
            let stats: crate::metrics::StoreStats = Arc::new(move || stats.stats());
            let storage = match catalog {
                Some(catalog) => Storage::new(sql, catalog),
                None => Storage::from(sql),
            };
            (storage, Some(stats))
        }
    })
}

/// Enforces `policy` on `store` now and every hour, in a task of its own.
fn retention(
    store: Arc<dyn Store>,
    policy: monitor_core::store::RetentionPolicy,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match store
                .enforce_retention(&policy, monitor_core::Timestamp::now())
                .await
            {
                Ok(report) => tracing::debug!(store = store.name(), ?report, "Retention enforced."),
                Err(error) => {
                    tracing::warn!(store = store.name(), %error, "Could not enforce retention; trying again in an hour.")
                }
            }
        }
    })
}

/// The notifiers of `[[alerts.webhooks]]`.
pub(crate) fn webhooks(
    settings: &crate::config::AlertSettings,
) -> Result<Vec<Arc<dyn Notifier>>, ServerError> {
    let mut notifiers: Vec<Arc<dyn Notifier>> = Vec::new();
    if settings.webhooks.is_empty() {
        return Ok(notifiers);
    }
    let tls = crate::webhook::system_tls().map_err(|e| ServerError::Plugin(e.to_string()))?;
    for webhook in &settings.webhooks {
        let hook =
            crate::webhook::Webhook::new(webhook.clone(), Arc::clone(&tls)).map_err(|e| {
                ServerError::Plugin(format!("[[alerts.webhooks]] {:?}: {e}", webhook.name))
            })?;
        notifiers.push(Arc::new(hook));
    }
    Ok(notifiers)
}

/// The admin token: the file `tokens.admin_token_file`, else the one
/// generated at the first start in `<data_dir>/admin.token` (mode 0600,
/// written atomically and durably: see [`crate::files`]).
fn admin_token(config: &ServerConfig) -> Result<(Token, Option<PathBuf>), ServerError> {
    if let Some(path) = &config.tokens.admin_token_file {
        return Ok((
            read_secret(path, "tokens.admin_token_file")?,
            Some(path.clone()),
        ));
    }
    let path = config.data_dir.join("admin.token");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            // An empty or cut-off file (a full disk or a crash at the
            // first start, a `touch`) is no token: refusing to start is
            // the only safe answer, as an empty secret would be one anyone
            // can send.
            let token = Token::from_secret(text).map_err(|e| {
                ServerError::Token(format!(
                    "{} holds no usable admin token ({e}). It was probably cut short at the first start (a full disk, a crash): delete the file to have a new token generated at the next start, or write a token of at least 16 characters into it",
                    path.display()
                ))
            })?;
            return Ok((token, Some(path)));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ServerError::Io {
                what: format!("cannot read the admin token file {}", path.display()),
                source: e,
            });
        }
    }
    let token = Token::generate(Scope::Admin)
        .map_err(|e| ServerError::Token(format!("cannot make the admin token: {e}")))?;
    write_private(&path, token.expose())?;
    tracing::info!(file = %path.display(), "Generated the admin token in {}.", path.display());
    Ok((token, Some(path)))
}

/// A token from a file holding at least 16 characters.
///
/// # Errors
/// [`ServerError`] naming the setting when the file is unreadable or short.
pub fn read_secret(path: &Path, setting: &str) -> Result<Token, ServerError> {
    // A file the configuration names and that cannot be read is the
    // configuration's fault (a wrong path, the wrong owner): a Token error,
    // exit 78.
    let text = std::fs::read_to_string(path).map_err(|e| {
        ServerError::Token(format!("{setting}: cannot read {}: {e}", path.display()))
    })?;
    Token::from_secret(text).map_err(|e| {
        ServerError::Token(format!(
            "{setting}: {} holds no usable token ({e})",
            path.display()
        ))
    })
}

/// Writes `text` and a newline to a new file only its owner can read,
/// atomically and durably ([`crate::files::write_atomic`]).
///
/// # Errors
/// [`ServerError::Io`] when the file exists or cannot be written.
pub fn write_private(path: &Path, text: &str) -> Result<(), ServerError> {
    crate::files::write_atomic(path, format!("{text}\n").as_bytes(), 0o600, false)
        .map_err(io(format!("cannot create {}", path.display())))
}
