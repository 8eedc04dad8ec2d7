//! The `monitor-server` command line. Run `monitor-server --help`.

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
        .with_ansi(colour())
        .init();
    match run(Flags::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("monitor-server: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether logs are coloured: only on a terminal, and not when `NO_COLOR`
/// is set (journald, files and pipes get no escape codes).
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
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
        register_local(&**server.storage().catalog()).await?;
        let mut agent = monitor_collectors::Agent::builder()
            .with_server_id(local_id())
            .with_interval(interval)
            .with_builtin_collectors(monitor_collectors::BUILTIN)
            .build()?;
        let ingest = server.ingest();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let snapshot = agent.tick().await;
                let stored = match monitor_core::wire::encode(&snapshot) {
                    Ok(body) => ingest
                        .ingest(&local_id(), &body)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(error) = stored {
                    tracing::warn!(%error, "The local agent's report was not stored.");
                }
            }
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

/// Registers this host as `local` unless it is. Its agent runs in this
/// process and reports through the ingest pipeline directly, without a
/// token; `POST /api/servers/local/token` gives one to an agent of its own.
async fn register_local(catalog: &dyn monitor_core::Catalog) -> anyhow::Result<()> {
    if catalog.server(&local_id()).await?.is_some() {
        return Ok(());
    }
    let token = Token::generate(Scope::Agent).context("no random source")?;
    catalog
        .register_server(monitor_core::catalog::NewServer {
            id: local_id(),
            name: "this host".into(),
            tags: vec!["local".into()],
            token_hash: token.hash(),
            created: monitor_core::Timestamp::now(),
        })
        .await?;
    Ok(())
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
