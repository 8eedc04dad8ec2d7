//! The `monitor-server` command line. Run `monitor-server --help`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use monitor_server::auth::{Scope, Token};
use monitor_server::config::{Command, Flags};
use monitor_server::server::Server;

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
    let mut builder = Server::builder().with_config(config.clone());
    if let Ok(secret) = std::env::var("MONITOR_ADMIN_TOKEN") {
        let token = Token::from_secret(secret).map_err(|e| {
            anyhow::anyhow!(
                "MONITOR_ADMIN_TOKEN is unusable: {e} (better: leave it unset and use the generated one)"
            )
        })?;
        builder = builder.with_admin_token(token);
    }
    if let Ok(secret) = std::env::var("DASHBOARD_TOKEN") {
        let token = Token::from_secret(secret).map_err(|e| {
            anyhow::anyhow!("DASHBOARD_TOKEN is unusable: {e} (or unset it to leave reads open)")
        })?;
        builder = builder.with_dashboard_token(token);
    }
    if let Ok(secret) = std::env::var("MONITOR_READ_TOKEN") {
        let token = Token::from_secret(secret)
            .map_err(|e| anyhow::anyhow!("MONITOR_READ_TOKEN is unusable: {e}"))?;
        builder = builder.with_read_token(token);
    }
    let server = builder.build().await.context("cannot start the server")?;
    if let Some(ca) = server.ca_file() {
        eprintln!(
            "monitor-server: TLS with the local CA {} (give it to agents: --verify {})",
            ca.display(),
            ca.display()
        );
    }
    if let Some(interval) = quickstart {
        let token = local_agent_token(&**server.storage().catalog(), &config.data_dir).await?;
        let mut agent = monitor_agent::Agent::builder()
            .with_server_id(local_id())
            .with_interval(interval)
            .with_builtin_collectors(monitor_collectors::BUILTIN)
            .build()?;
        let pusher = monitor_agent::push::Pusher::new(monitor_agent::push::PushConfig {
            server: format!("http://{}", config.listen),
            failover: Vec::new(),
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
            admin = server
                .admin_token_file()
                .map_or("MONITOR_ADMIN_TOKEN".into(), |p| p.display().to_string()),
        );
    }
    server.serve(shutdown_signal()).await?;
    Ok(())
}

/// The id the quickstart registers this host under.
fn local_id() -> monitor_core::ServerId {
    monitor_core::ServerId::new("local").unwrap_or_else(|_| unreachable!("a valid literal id"))
}

/// The local agent's token: kept in <data-dir>/local-agent.token (0600);
/// registered on first use, rotated when the file is gone.
async fn local_agent_token(
    store: &dyn monitor_core::Catalog,
    data_dir: &Path,
) -> anyhow::Result<Token> {
    let path = data_dir.join("local-agent.token");
    let id = local_id();
    let known = store.server(&id).await?.is_some();
    // A file cut short (a crash at the first start) is replaced by a new
    // token, like a missing one.
    if known
        && let Ok(secret) = std::fs::read_to_string(&path)
        && let Ok(token) = Token::from_secret(secret)
    {
        return Ok(token);
    }
    let token = Token::generate(Scope::Agent).context("no random source")?;
    if known {
        store.rotate_token(&id, token.hash()).await?;
    } else {
        store
            .register_server(monitor_core::catalog::NewServer {
                id,
                name: "this host".into(),
                tags: vec!["local".into()],
                token_hash: token.hash(),
                created: monitor_core::Timestamp::now(),
            })
            .await?;
    }
    let _ = std::fs::remove_file(&path);
    monitor_server::server::write_private(&path, token.expose())?;
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
