//! The `monitor-server` command line. Run `monitor-server --help`.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use monitor_server::auth::{Scope, Token};
use monitor_server::config::{Command, ConfigError, DEFAULT_FILE, Flags, LogFormat, ServerConfig};
use monitor_server::server::{Server, ServerError};

/// mimalloc: under thousands of agents the server allocates and frees many
/// small objects per request from several threads; glibc's allocator spent
/// a fifth of the CPU there and fragmented the heap. Built without
/// transparent huge pages (`no_thp`): mimalloc asks the kernel for them on
/// its arenas, and a 2 MiB page stays resident while any byte of it is in
/// use, which kept ~20 MiB more resident after a load peak and made the
/// resting RSS swing by as much between runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit status of a configuration error (`EX_CONFIG` of sysexits.h):
/// the systemd unit's `RestartPreventExitStatus` does not restart on it.
const EXIT_CONFIG: u8 = 78;

#[tokio::main]
async fn main() -> ExitCode {
    let flags = Flags::parse();
    if flags.man || flags.completions.is_some() {
        return match print_documentation(flags.man, flags.completions) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("monitor-server: cannot write to standard output: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let env = |name: &str| std::env::var(name).ok();
    // The configuration first: it says how to log.
    let config = flags.resolve(env);
    let format = match &config {
        Ok(config) => config.log_format,
        // As asked, where the rest could not be read.
        Err(_) => flags
            .log_format
            .or_else(|| {
                let text = env(&monitor_server::config::env::variable("log_format"))?;
                clap::ValueEnum::from_str(text.trim(), true).ok()
            })
            .unwrap_or_default(),
    };
    init_logging(format);
    // Whatever check-config finds is the configuration's fault.
    let checking = matches!(flags.command, Some(Command::CheckConfig));
    let outcome = match config {
        Ok(config) => run(flags, config).await,
        Err(error) => Err(anyhow::Error::new(error)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let configuration = checking || is_configuration(&error);
            match format {
                LogFormat::Json => {
                    tracing::error!(configuration, "monitor-server stopped: {error:#}");
                }
                LogFormat::Text => eprintln!("monitor-server: {error:#}"),
            }
            if configuration {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::FAILURE
            }
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
    let mut command = Flags::command();
    let mut out = std::io::stdout().lock();
    if man {
        clap_mangen::Man::new(command).render(&mut out)?;
    } else if let Some(shell) = completions {
        clap_complete::generate(shell, &mut command, "monitor-server", &mut out);
    }
    out.flush()
}

/// Whether `error` is one starting again cannot mend.
fn is_configuration(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<ConfigError>()
            || cause
                .downcast_ref::<ServerError>()
                .is_some_and(ServerError::is_configuration)
    })
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

/// Whether logs are coloured: only on a terminal, and not when `NO_COLOR`
/// is set (journald, files and pipes get no escape codes).
fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A token from the variable `name`, if set.
fn token_from_env(name: &str, advice: &str) -> anyhow::Result<Option<Token>> {
    let Ok(secret) = std::env::var(name) else {
        return Ok(None);
    };
    Token::from_secret(secret).map(Some).map_err(|e| {
        anyhow::Error::new(ConfigError::Invalid {
            setting: name.to_owned(),
            problem: format!("unusable: {e}{advice}"),
        })
    })
}

async fn run(flags: Flags, config: ServerConfig) -> anyhow::Result<()> {
    if flags.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    if let Some(Command::CheckConfig) = flags.command {
        return check_config(&flags, &config);
    }
    // Before anything that takes time: a stop during start-up is a clean one.
    let stop = shutdown_signal().context("cannot watch for SIGINT and SIGTERM")?;
    let quickstart = match flags.command {
        Some(Command::Quickstart { interval, .. }) => {
            if !(0.1..=3600.0).contains(&interval) {
                return Err(ConfigError::Invalid {
                    setting: "--interval".into(),
                    problem: format!("{interval}: give seconds between 0.1 and 3600"),
                }
                .into());
            }
            Some(Duration::from_secs_f64(interval))
        }
        _ => None,
    };
    let mut builder = Server::builder().with_config(config.clone());
    if let Some(token) = token_from_env(
        "MONITOR_ADMIN_TOKEN",
        " (better: leave it unset and use the generated one)",
    )? {
        builder = builder.with_admin_token(token);
    }
    if let Some(token) = token_from_env("DASHBOARD_TOKEN", " (or unset it to leave reads open)")? {
        builder = builder.with_dashboard_token(token);
    }
    if let Some(token) = token_from_env("MONITOR_READ_TOKEN", "")? {
        builder = builder.with_read_token(token);
    }
    let server = builder.build().await.context("cannot start the server")?;
    if let Some(ca) = server.ca_file() {
        tracing::info!(
            ca = %ca.display(),
            "TLS with the local CA {} (give it to agents: --verify {}).",
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
        let dashboard = if monitor_server::dashboard::embedded() {
            format!("{base}/")
        } else {
            "(not in this build: see the dashboard feature)".into()
        };
        let admin = server
            .admin_token_file()
            .map_or("MONITOR_ADMIN_TOKEN".into(), |p| p.display().to_string());
        let (id, secs) = (local_id(), interval.as_secs_f64());
        match config.log_format {
            LogFormat::Json => tracing::info!(
                server = %base,
                %dashboard,
                server_id = id.as_str(),
                interval_secs = secs,
                admin_token_file = %admin,
                "monitor is running: dashboard at {dashboard}."
            ),
            LogFormat::Text => eprintln!(
                "\nmonitor is running: server {base}, this host registered as {id:?}, an agent reporting every {secs} s.\n\
                 \n  Dashboard: {dashboard}\n\
                 \n  curl -s {base}/api/health\n  curl -s {base}/api/servers\n  curl -s '{base}/api/metrics/history?server_id={id}'\n  curl -s {base}/api/alerts\n  curl -s {base}/metrics\n\
                 \nThe admin token is in {admin}. Stop with Ctrl-C.\n",
                id = id.as_str(),
            ),
        }
    }
    server.serve(stop).await?;
    Ok(())
}

/// `check-config`: what was checked on standard output, or the first
/// fault (exit 78).
fn check_config(flags: &Flags, config: &ServerConfig) -> anyhow::Result<()> {
    let file = flags.file(
        |name| std::env::var(name).ok(),
        std::path::Path::new(DEFAULT_FILE),
    );
    let found = monitor_server::config::check(config)?;
    let mut out = std::io::stdout().lock();
    match file {
        Some(path) => writeln!(out, "file: {}", path.display())?,
        None => writeln!(out, "file: none (defaults, environment and flags)")?,
    }
    for line in found {
        writeln!(out, "{line}")?;
    }
    writeln!(
        out,
        "The configuration is valid: the server would start with it."
    )?;
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

/// Watches for SIGINT and SIGTERM from now on (a signal that comes before
/// the future is awaited is kept, not lost to the default disposition,
/// which kills); the future resolves at the first.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
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
