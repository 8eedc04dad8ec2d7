//! The `monitor-agent` command line. Run `monitor-agent --help`.

mod cli;

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use monitor_agent::Agent;
use monitor_collectors::HostPaths;

use cli::{Cli, LogFormat, Mode};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = match Cli::load() {
        Ok(cli) => cli,
        Err(error) => {
            eprintln!("monitor-agent: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    init_logging(cli.log_format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("monitor-agent: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings()?;
    let paths = HostPaths {
        proc: settings.host_proc.clone(),
        sys: settings.host_sys.clone(),
    };
    let mut agent = Agent::new(settings.server_id.clone(), settings.interval);
    for name in &settings.collectors {
        let collector = if name == "docker" {
            docker_collector(&paths, settings.docker_host.clone())?
        } else {
            monitor_collectors::builtin(name, &paths)
                .with_context(|| format!("cannot start collector {name}"))?
        };
        agent = agent.with_collector(collector);
    }

    match settings.mode {
        Mode::Once => {
            // Rates and CPU % are differences: take a baseline, wait, read.
            agent.collect().await;
            tokio::time::sleep(Duration::from_secs(1).min(settings.interval)).await;
            let snapshot = agent.collect().await;
            print(&snapshot, settings.pretty)?;
        }
        Mode::Stdout => {
            let mut ticker = tokio::time::interval(settings.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let stop = shutdown_signal();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = ticker.tick() => {
                        let snapshot = agent.collect().await;
                        print(&snapshot, settings.pretty)?;
                    }
                }
            }
        }
        Mode::Push => {
            let config = settings.push.clone().context("no server configured")?;
            push_loop(&mut agent, config, settings.interval).await?;
        }
    }
    agent.shutdown().await;
    Ok(())
}

/// Collects every interval, spools, and sends until SIGTERM or Ctrl-C.
async fn push_loop(
    agent: &mut Agent,
    config: monitor_agent::push::PushConfig,
    interval: Duration,
) -> anyhow::Result<()> {
    let pusher = monitor_agent::push::Pusher::new(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    monitor_agent::push::run(agent, &pusher, interval, shutdown_signal()).await;
    Ok(())
}

#[cfg(feature = "docker")]
fn docker_collector(
    paths: &HostPaths,
    host: Option<String>,
) -> anyhow::Result<Box<dyn monitor_core::Collector>> {
    Ok(Box::new(monitor_collectors::DockerCollector::new(
        monitor_collectors::DockerConfig {
            host,
            paths: paths.clone(),
            ..monitor_collectors::DockerConfig::default()
        },
    )))
}

#[cfg(not(feature = "docker"))]
fn docker_collector(
    paths: &HostPaths,
    _host: Option<String>,
) -> anyhow::Result<Box<dyn monitor_core::Collector>> {
    Ok(monitor_collectors::builtin("docker", paths)?)
}

fn print(snapshot: &monitor_core::Snapshot, pretty: bool) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if pretty {
        serde_json::to_writer_pretty(&mut stdout, snapshot)?;
    } else {
        serde_json::to_writer(&mut stdout, snapshot)?;
    }
    stdout.write_all(b"\n")?;
    stdout.flush().context("cannot write to standard output")
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
