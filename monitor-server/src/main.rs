//! The `monitor-server` command line. Run `monitor-server --help`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use monitor_server::api::{AppState, router};
use monitor_server::auth::{Scope, Token};
use monitor_store::{SqlStore, StoreOptions};

/// The monitor server: registers hosts, receives their metrics, keeps history.
#[derive(Debug, Parser)]
#[command(name = "monitor-server", version)]
struct Cli {
    /// Address to listen on. Without TLS, only a loopback address is allowed
    /// (behind a TLS-terminating proxy such as nginx: 127.0.0.1:8001), unless
    /// --insecure-http.
    #[arg(long, env = "MONITOR_LISTEN", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,

    /// TLS certificate chain (PEM).
    #[arg(
        long,
        env = "MONITOR_TLS_CERT",
        requires = "tls_key",
        value_name = "PATH"
    )]
    tls_cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(
        long,
        env = "MONITOR_TLS_KEY",
        requires = "tls_cert",
        value_name = "PATH"
    )]
    tls_key: Option<PathBuf>,

    /// Make (once) a local CA and a server certificate in <data-dir>/tls and
    /// serve TLS with them; agents trust the printed CA file with --verify.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,

    /// Extra host names or IP addresses for the self-signed certificate
    /// (localhost, 127.0.0.1 and ::1 are always in it).
    #[arg(long = "tls-name", value_name = "NAME")]
    tls_names: Vec<String>,

    /// Directory for the SQLite database and the generated admin token.
    #[arg(long, env = "MONITOR_DATA_DIR", default_value = "./.data")]
    data_dir: PathBuf,

    /// Database URL (default: sqlite://<data-dir>/monitor.db); postgres://... for PostgreSQL.
    #[arg(long, env = "MONITOR_DATABASE_URL")]
    database_url: Option<String>,

    /// Serve plain HTTP on a non-loopback address (tokens then cross the
    /// network in clear text: only for trusted networks).
    #[arg(long)]
    insecure_http: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("monitor-server: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The admin token: `MONITOR_ADMIN_TOKEN`, else the one generated at the
/// first start in `<data-dir>/admin.token` (mode 0600).
fn admin_token(data_dir: &Path) -> anyhow::Result<Token> {
    if let Ok(secret) = std::env::var("MONITOR_ADMIN_TOKEN") {
        if secret.len() < 16 {
            bail!(
                "MONITOR_ADMIN_TOKEN is too short: use at least 16 characters (better: leave it unset and use the generated one)"
            );
        }
        return Ok(Token::from_secret(secret));
    }
    let path = data_dir.join("admin.token");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(Token::from_secret(secret.trim().to_owned()));
    }
    let token = Token::generate(Scope::Admin).context("no random source")?;
    write_private(&path, token.expose())?;
    eprintln!(
        "monitor-server: generated the admin token in {}",
        path.display()
    );
    Ok(token)
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

async fn run(mut cli: Cli) -> anyhow::Result<()> {
    let quickstart = match cli.command {
        Some(Command::Quickstart { port, interval }) => {
            if !(0.1..=3600.0).contains(&interval) {
                bail!("--interval {interval}: give seconds between 0.1 and 3600");
            }
            cli.listen = SocketAddr::from(([127, 0, 0, 1], port));
            Some(Duration::from_secs_f64(interval))
        }
        None => None,
    };
    let tls_wanted = cli.tls_self_signed || cli.tls_cert.is_some();
    if !tls_wanted && !cli.listen.ip().is_loopback() && !cli.insecure_http {
        bail!(
            "--listen {}: serve TLS (--tls-self-signed, or --tls-cert and --tls-key), or listen on a \
             loopback address behind a TLS proxy (--listen 127.0.0.1:8001), or accept clear text with \
             --insecure-http",
            cli.listen
        );
    }
    std::fs::create_dir_all(&cli.data_dir)
        .with_context(|| format!("cannot create --data-dir {}", cli.data_dir.display()))?;
    let tls = if cli.tls_self_signed {
        let files = monitor_server::tls::self_signed(&cli.data_dir.join("tls"), &cli.tls_names)?;
        eprintln!(
            "monitor-server: TLS with the local CA {} (give it to agents: --verify {})",
            files.ca.display(),
            files.ca.display()
        );
        Some(monitor_server::tls::server_config(&files.cert, &files.key)?)
    } else if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        Some(monitor_server::tls::server_config(cert, key)?)
    } else {
        None
    };
    let mut options = match &cli.database_url {
        Some(url) => StoreOptions::from_url(url)?,
        None => StoreOptions::sqlite(cli.data_dir.join("monitor.db")),
    };
    if let Ok(text) = std::env::var("CACHE_MAX_ITEMS") {
        options.latest_in_memory = text.trim().parse::<usize>().with_context(|| {
            format!("CACHE_MAX_ITEMS={text:?}: give a number of servers (default 1000)")
        })?;
    }
    let store = SqlStore::open(options)
        .await
        .context("cannot open the database")?;
    let admin = admin_token(&cli.data_dir)?;
    let dashboard = std::env::var("DASHBOARD_TOKEN")
        .ok()
        .map(Token::from_secret);
    if dashboard.is_none() && !cli.listen.ip().is_loopback() {
        tracing::warn!(
            "DASHBOARD_TOKEN is not set: anyone who reaches this address can read every server's metrics."
        );
    }
    let store = Arc::new(store);
    let app = router(AppState::new(store.clone(), &admin, dashboard.as_ref()));
    if let Some(interval) = quickstart {
        let token = local_agent_token(&*store, &cli.data_dir).await?;
        let mut agent = monitor_agent::Agent::new(local_id(), interval);
        let paths = monitor_collectors::HostPaths::default();
        for name in monitor_collectors::BUILTIN {
            agent = agent.with_collector(monitor_collectors::builtin(name, &paths)?);
        }
        let pusher = monitor_agent::push::Pusher::new(monitor_agent::push::PushConfig {
            server: format!("http://{}", cli.listen),
            token: token.expose().to_owned(),
            verify: None,
            spool_dir: cli.data_dir.join("spool"),
            spool_max_bytes: 64 << 20,
            timeout: Duration::from_secs(30),
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        tokio::spawn(async move {
            monitor_agent::push::run(&mut agent, &pusher, interval, std::future::pending()).await;
        });
        let base = format!("http://{}", cli.listen);
        eprintln!(
            "\nmonitor is running: server {base}, this host registered as {id:?}, an agent reporting every {secs} s.\n\
             \n  curl -s {base}/api/health\n  curl -s {base}/api/servers\n  curl -s '{base}/api/metrics/history?server_id={id}'\n  curl -s {base}/api/alerts\n\
             \nThe admin token is in {admin}. Stop with Ctrl-C.\n",
            id = local_id().as_str(),
            secs = interval.as_secs_f64(),
            admin = cli.data_dir.join("admin.token").display(),
        );
    }
    match tls {
        Some(config) => {
            let listener = monitor_server::tls::TlsListener::bind(cli.listen, config)
                .await
                .with_context(|| format!("cannot listen on {}", cli.listen))?;
            tracing::info!(address = %cli.listen, "Listening (HTTPS).");
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
                .context("the HTTPS server failed")?;
        }
        None => {
            let listener = tokio::net::TcpListener::bind(cli.listen)
                .await
                .with_context(|| format!("cannot listen on {}", cli.listen))?;
            tracing::info!(address = %cli.listen, "Listening (plain HTTP).");
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
                .context("the HTTP server failed")?;
        }
    }
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
