//! The `monitor-agent` command line. Run `monitor-agent --help`.

mod cli;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use monitor_agent::Agent;
use monitor_collectors::HostPaths;

use cli::{Cli, LogFormat, Mode};

/// The exit status of a configuration error (`EX_CONFIG` of sysexits.h):
/// the systemd unit's `RestartPreventExitStatus` does not restart on it.
const EXIT_CONFIG: u8 = 78;

/// Why the agent stopped.
enum Stop {
    /// A setting or a file it names is wrong: starting again cannot help.
    Config(anyhow::Error),
    /// Something failed while running.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(error: anyhow::Error) -> Self {
        Stop::Failed(error)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let outcome = match Cli::load() {
        Ok(cli) if cli.man || cli.completions.is_some() => {
            print_documentation(cli.man, cli.completions).map_err(|e| Stop::Failed(e.into()))
        }
        Ok(cli) => {
            init_logging(cli.log_format);
            run(cli).await
        }
        Err(error) => Err(Stop::Config(error)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Stop::Config(error)) => {
            eprintln!("monitor-agent: {error:#}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Stop::Failed(error)) => {
            eprintln!("monitor-agent: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--man` or `--completions SHELL`: the man page or the completions on
/// standard output.
fn print_documentation(
    man: bool,
    completions: Option<clap_complete::Shell>,
) -> std::io::Result<()> {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    if man {
        clap_mangen::Man::new(command).render(&mut out)?;
    } else if let Some(shell) = completions {
        clap_complete::generate(shell, &mut command, "monitor-agent", &mut out);
    }
    out.flush()
}

/// Whether logs are coloured: only on a terminal, and not when `NO_COLOR`
/// is set (journald, files and pipes get no escape codes).
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(cli: Cli) -> Result<(), Stop> {
    let settings = cli.settings().map_err(Stop::Config)?;
    // Before anything that takes time: a stop during start-up is a clean
    // one. (--once keeps the default disposition: a signal ends it.)
    let stop = match settings.mode {
        Mode::Once => None,
        Mode::Stdout | Mode::Run => Some(
            shutdown_signal()
                .context("cannot watch for SIGINT and SIGTERM")
                .map_err(Stop::Failed)?,
        ),
    };
    let paths = HostPaths {
        proc: settings.host_proc.clone(),
        sys: settings.host_sys.clone(),
        root: settings.host_root.clone(),
    };
    let mut builder = Agent::builder()
        .with_server_id(settings.server_id.clone())
        .with_interval(settings.interval)
        .with_host_paths(paths.clone())
        // An --exec command is cut off by its own, clearer timeout.
        .with_call_timeout(
            settings
                .interval
                .max(Duration::from_secs(5))
                .max(settings.exec_timeout + Duration::from_secs(1)),
        );
    for name in &settings.collectors {
        builder = if name == "docker" {
            builder.with_collector(
                docker_collector(&paths, settings.docker_host.clone()).map_err(Stop::Config)?,
            )
        } else {
            builder.with_builtin_collectors(&[name.as_str()])
        };
    }
    if let Some(dir) = &settings.textfile_dir {
        builder = builder.with_collector(Box::new(monitor_collectors::TextfileCollector::new(dir)));
    }
    for command in &settings.exec {
        builder = builder.with_collector(Box::new(monitor_collectors::ExecCollector::new(
            command.clone(),
            settings.exec_timeout,
        )));
    }
    #[cfg(feature = "probe")]
    if !settings.probes.is_empty() {
        let probes = monitor_collectors::ProbeCollector::new(settings.probes.clone())
            .map_err(|e| Stop::Config(e.into()))?;
        builder = builder.with_collector(Box::new(probes));
    }
    let mut agent = builder.build().map_err(|e| Stop::Config(e.into()))?;

    match (settings.mode, stop) {
        (Mode::Once, _) | (_, None) => {
            // Rates and CPU % are differences: take a baseline, wait, read.
            agent.collect().await;
            tokio::time::sleep(Duration::from_secs(1).min(settings.interval)).await;
            let snapshot = agent.collect().await;
            print(&snapshot, settings.pretty)?;
        }
        (Mode::Stdout, Some(stop)) => {
            let mut ticker = tokio::time::interval(settings.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
        (Mode::Run, Some(signal)) => {
            let (stop_tx, stop) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                signal.await;
                let _ = stop_tx.send(true);
            });
            let stopped = move || {
                let mut stop = stop.clone();
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                }
            };
            if let Some(otlp) = settings.otlp {
                agent = with_otlp(agent, otlp).map_err(Stop::Config)?;
            }
            let mut listening = None;
            if let Some(listen) = settings.listen {
                let (with_exporter, task) = start_listen(agent, listen, stopped()).await?;
                agent = with_exporter;
                listening = Some(task);
            }
            match settings.push {
                Some(config) => {
                    let pusher = monitor_agent::push::Pusher::new(config)
                        .map_err(|e| Stop::Config(anyhow::anyhow!("{e}")))?;
                    monitor_agent::push::run(&mut agent, &pusher, settings.interval, stopped())
                        .await;
                }
                None => agent.run(stopped()).await,
            }
            if let Some(task) = listening {
                let _ = task.await;
            }
        }
    }
    agent.shutdown().await;
    Ok(())
}

/// Starts the `--listen` endpoint; the agent gets the exporter it serves.
#[cfg(feature = "prometheus")]
async fn start_listen(
    agent: Agent,
    listen: cli::Listen,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(Agent, tokio::task::JoinHandle<std::io::Result<()>>), Stop> {
    use monitor_agent::export::listen::{BasicAuth, ListenConfig, serve, tls_config};
    use monitor_agent::export::prometheus::PrometheusExporter;
    use std::sync::Arc;
    let tls = match &listen.tls {
        Some((cert, key)) => Some(tls_config(cert, key).map_err(|e| Stop::Config(e.into()))?),
        None => None,
    };
    let basic_auth = match &listen.basic_auth_file {
        Some(path) => Some(BasicAuth::from_file(path).map_err(|e| Stop::Config(e.into()))?),
        None => None,
    };
    let exporter = Arc::new(PrometheusExporter::new());
    let agent = agent.with_exporter(Box::new(Arc::clone(&exporter)));
    let listener = tokio::net::TcpListener::bind(listen.addr)
        .await
        .with_context(|| format!("--listen {}: cannot listen there", listen.addr))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %listen.addr, "Serving this host's metrics at {scheme}://{}/metrics.", listen.addr);
    let config = ListenConfig { tls, basic_auth };
    Ok((
        agent,
        tokio::spawn(serve(listener, config, exporter, stopped)),
    ))
}

/// Refused when the settings are checked; kept for the types.
#[cfg(not(feature = "prometheus"))]
async fn start_listen(
    _agent: Agent,
    _listen: cli::Listen,
    _stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(Agent, tokio::task::JoinHandle<std::io::Result<()>>), Stop> {
    Err(Stop::Config(anyhow::anyhow!(
        "--listen: this agent was built without the `prometheus` feature"
    )))
}

/// Adds the OTLP exporter.
#[cfg(feature = "otlp")]
fn with_otlp(agent: Agent, otlp: cli::Otlp) -> anyhow::Result<Agent> {
    use monitor_agent::export::otlp::{OtlpConfig, OtlpExporter};
    let mut config = OtlpConfig::new(otlp.endpoint);
    config.protocol = otlp.protocol.parse().map_err(anyhow::Error::msg)?;
    config.headers = otlp.headers;
    config.interval = otlp.interval;
    config.service_name = otlp.service_name;
    config.verify = otlp.verify;
    let exporter = OtlpExporter::new(config).context("--otlp-endpoint")?;
    tracing::info!(url = %exporter.config().url(), interval = ?exporter.config().interval, "Sending this host's metrics over OTLP.");
    Ok(agent.with_exporter(Box::new(exporter)))
}

/// Refused when the settings are checked; kept for the types.
#[cfg(not(feature = "otlp"))]
fn with_otlp(_agent: Agent, _otlp: cli::Otlp) -> anyhow::Result<Agent> {
    anyhow::bail!("--otlp-endpoint: this agent was built without the `otlp` feature")
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

/// Watches for SIGINT and SIGTERM from now on (a signal that comes before
/// the future is awaited is kept, not lost to the default disposition,
/// which kills); the future resolves at the first.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    })
}
