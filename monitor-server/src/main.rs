//! The `monitor-server` command line. Run `monitor-server --help`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use monitor_server::api::{AppState, router};
use monitor_server::auth::{Scope, Token};
use monitor_server::config::{Command, Flags, ServerConfig};
use monitor_store::{SqlStore, StoreOptions};

/// mimalloc: under thousands of agents the server allocates and frees many
/// small objects per request from several threads; glibc's allocator spent
/// a fifth of the CPU there and fragmented the heap. Built without
/// transparent huge pages (`no_thp`): mimalloc asks the kernel for them on
/// its arenas, and a 2 MiB page stays resident while any byte of it is in
/// use, which kept ~20 MiB more resident after a load peak and made the
/// resting RSS swing by as much between runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(Flags::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("monitor-server: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The admin token: `MONITOR_ADMIN_TOKEN`, else the file `tokens.admin_token_file`,
/// else the one generated at the first start in `<data-dir>/admin.token`
/// (mode 0600).
fn admin_token(config: &ServerConfig) -> anyhow::Result<(Token, Option<PathBuf>)> {
    if let Ok(secret) = std::env::var("MONITOR_ADMIN_TOKEN") {
        if secret.len() < 16 {
            bail!(
                "MONITOR_ADMIN_TOKEN is too short: use at least 16 characters (better: leave it unset and use the generated one)"
            );
        }
        return Ok((Token::from_secret(secret), None));
    }
    if let Some(path) = &config.tokens.admin_token_file {
        return Ok((
            read_secret(path, "tokens.admin_token_file")?,
            Some(path.clone()),
        ));
    }
    let path = config.data_dir.join("admin.token");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok((Token::from_secret(secret.trim().to_owned()), Some(path)));
    }
    let token = Token::generate(Scope::Admin).context("no random source")?;
    write_private(&path, token.expose())?;
    eprintln!(
        "monitor-server: generated the admin token in {}",
        path.display()
    );
    Ok((token, Some(path)))
}

/// The dashboard token: `DASHBOARD_TOKEN`, else the file
/// `tokens.dashboard_token_file`, else none (reads open).
fn dashboard_token(config: &ServerConfig) -> anyhow::Result<Option<Token>> {
    if let Ok(secret) = std::env::var("DASHBOARD_TOKEN") {
        return Ok(Some(Token::from_secret(secret)));
    }
    match &config.tokens.dashboard_token_file {
        Some(path) => Ok(Some(read_secret(path, "tokens.dashboard_token_file")?)),
        None => Ok(None),
    }
}

fn read_secret(path: &Path, setting: &str) -> anyhow::Result<Token> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{setting}: cannot read {}", path.display()))?;
    let secret = text.trim();
    if secret.len() < 16 {
        bail!(
            "{setting}: {} holds fewer than 16 characters; put a long random token in it",
            path.display()
        );
    }
    Ok(Token::from_secret(secret.to_owned()))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{text}").with_context(|| format!("cannot write {}", path.display()))
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    let config = flags.resolve(|name| std::env::var(name).ok())?;
    if flags.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    let quickstart = match flags.command {
        Some(Command::Quickstart { interval, .. }) => {
            if !(0.1..=3600.0).contains(&interval) {
                bail!("--interval {interval}: give seconds between 0.1 and 3600");
            }
            Some(Duration::from_secs_f64(interval))
        }
        None => None,
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create --data-dir {}", config.data_dir.display()))?;
    let tls = if config.tls.self_signed {
        let files =
            monitor_server::tls::self_signed(&config.data_dir.join("tls"), &config.tls.names)?;
        eprintln!(
            "monitor-server: TLS with the local CA {} (give it to agents: --verify {})",
            files.ca.display(),
            files.ca.display()
        );
        Some(monitor_server::tls::server_config(&files.cert, &files.key)?)
    } else if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        Some(monitor_server::tls::server_config(cert, key)?)
    } else {
        None
    };
    let mut options = StoreOptions::from_url(&config.database_url())?;
    options.latest_in_memory = config.cache_max_items;
    options.retention = config.retention.policy();
    let store = SqlStore::open(options)
        .await
        .context("cannot open the database")?;
    let (admin, admin_path) = admin_token(&config)?;
    let dashboard = dashboard_token(&config)?;
    if dashboard.is_none() && !config.listen.ip().is_loopback() {
        tracing::warn!(
            "DASHBOARD_TOKEN is not set: anyone who reaches this address can read every server's metrics."
        );
    }
    let store = Arc::new(store);
    let state = AppState::new(store.clone(), &admin, dashboard.as_ref())
        .with_limits(&config.limits)
        .with_retention(&config.retention)
        .with_stream_limits(&config.stream)
        .with_store_stats({
            let store = Arc::clone(&store);
            Arc::new(move || store.stats())
        });
    let hub = state.stream_hub();
    let alerts = monitor_server::alerts::Alerts::start(
        store.clone(),
        Arc::clone(&hub),
        alert_options(&config.alerts)?,
    )
    .await
    .context("cannot load the alert rules and states")?;
    let state = state.with_alerts(alerts);
    if let Some(otlp) = config.otlp.exporter()? {
        let exporter = monitor_agent::export::otlp::OtlpExporter::new(otlp)
            .map_err(|e| anyhow::anyhow!("otlp: {e}"))?;
        tracing::info!(url = %exporter.config().url(), interval = ?exporter.config().interval, "Relaying every host's metrics over OTLP.");
        monitor_server::relay::spawn(store.clone(), exporter);
    }
    let app = router(state);
    let shutdown = async move {
        shutdown_signal().await;
        hub.close();
    };
    if let Some(interval) = quickstart {
        let token = local_agent_token(&*store, &config.data_dir).await?;
        let mut agent = monitor_agent::Agent::new(local_id(), interval);
        let paths = monitor_collectors::HostPaths::default();
        for name in monitor_collectors::BUILTIN {
            agent = agent.with_collector(monitor_collectors::builtin(name, &paths)?);
        }
        let pusher = monitor_agent::push::Pusher::new(monitor_agent::push::PushConfig {
            server: format!("http://{}", config.listen),
            token: token.expose().to_owned(),
            verify: None,
            spool_dir: config.data_dir.join("spool"),
            spool_max_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        tokio::spawn(async move {
            monitor_agent::push::run(&mut agent, &pusher, interval, std::future::pending()).await;
        });
        let base = format!("http://{}", config.listen);
        eprintln!(
            "\nmonitor is running: server {base}, this host registered as {id:?}, an agent reporting every {secs} s.\n\
             \n  Dashboard: {dashboard}\n\
             \n  curl -s {base}/api/health\n  curl -s {base}/api/servers\n  curl -s '{base}/api/metrics/history?server_id={id}'\n  curl -s {base}/api/alerts\n  curl -s {base}/metrics\n\
             \nThe admin token is in {admin}. Stop with Ctrl-C.\n",
            dashboard = if monitor_server::dashboard::embedded() {
                format!("{base}/")
            } else {
                "(not in this build: see the dashboard feature)".into()
            },
            id = local_id().as_str(),
            secs = interval.as_secs_f64(),
            admin = admin_path.map_or("MONITOR_ADMIN_TOKEN".into(), |p| p.display().to_string()),
        );
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(
        address = %config.listen,
        tls = tls.is_some(),
        max_connections = config.limits.max_connections,
        "Listening."
    );
    monitor_server::serve::serve(listener, app, config.limits.serve_options(tls), shutdown)
        .await
        .context("the HTTP server failed")?;
    tracing::info!("Shutting down: flushing the store.");
    monitor_core::Store::shutdown(&*store).await?;
    Ok(())
}

/// The id the quickstart registers this host under.
fn local_id() -> monitor_core::ServerId {
    monitor_core::ServerId::new("local").unwrap_or_else(|_| unreachable!("a valid literal id"))
}

/// The local agent's token: kept in <data-dir>/local-agent.token (0600);
/// registered on first use, rotated when the file is gone.
async fn local_agent_token(
    store: &dyn monitor_core::Store,
    data_dir: &Path,
) -> anyhow::Result<Token> {
    let path = data_dir.join("local-agent.token");
    let id = local_id();
    let known = store.server(&id).await?.is_some();
    if known && let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(Token::from_secret(secret.trim().to_owned()));
    }
    let token = Token::generate(Scope::Agent).context("no random source")?;
    if known {
        store.rotate_token(&id, token.hash()).await?;
    } else {
        store
            .register_server(monitor_core::store::NewServer {
                id,
                name: "this host".into(),
                tags: vec!["local".into()],
                token_hash: token.hash(),
                created: monitor_core::Timestamp::now(),
            })
            .await?;
    }
    let _ = std::fs::remove_file(&path);
    write_private(&path, token.expose())?;
    Ok(token)
}

/// The notifiers and notification settings of `[alerts]`.
fn alert_options(
    settings: &monitor_server::config::AlertSettings,
) -> anyhow::Result<monitor_server::alerts::AlertOptions> {
    let mut notifiers: Vec<Arc<dyn monitor_core::Notifier>> = Vec::new();
    if !settings.webhooks.is_empty() {
        let tls = monitor_server::webhook::system_tls()?;
        for webhook in &settings.webhooks {
            let hook = monitor_server::webhook::Webhook::new(webhook.clone(), Arc::clone(&tls))
                .context("check [[alerts.webhooks]] in the configuration file")?;
            notifiers.push(Arc::new(hook));
        }
    }
    Ok(monitor_server::alerts::AlertOptions {
        notifiers,
        repeat_every: (!settings.repeat_every.is_zero()).then_some(settings.repeat_every),
        dashboard_url: (!settings.dashboard_url.is_empty()).then(|| settings.dashboard_url.clone()),
        retry_base: std::time::Duration::ZERO,
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}
