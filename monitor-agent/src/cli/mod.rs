//! Command-line flags and their validation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use monitor_core::ServerId;

/// The file read when neither `--config` nor `MONITOR_AGENT_CONFIG` names
/// one and it exists (the Debian package installs it).
pub(crate) const DEFAULT_FILE: &str = "/etc/monitor/agent.toml";

/// This build's version and commit, as `--version` shows it.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MONITOR_COMMIT"),
    ")"
);

/// The monitor agent: collects host and container metrics and reports them.
///
/// Push to a server:
///   monitor-agent --server https://HOST:8443 --server-id srv-01 --token-file /etc/monitor/token \
///                 --interval 5 --verify /etc/ssl/certs/ca-certificates.crt
///
/// Print one snapshot as JSON:   monitor-agent --once --pretty
#[derive(Debug, Parser)]
#[command(name = "monitor-agent", version = VERSION, verbatim_doc_comment)]
pub(crate) struct Cli {
    /// TOML file with any of the settings below (the flags' names with `_`
    /// for `-`, token_file but never the token itself); a flag or variable
    /// wins over the file. Default: /etc/monitor/agent.toml when it exists;
    /// an empty value reads none.
    #[arg(
        long,
        env = "MONITOR_AGENT_CONFIG",
        value_name = "PATH",
        value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from)
    )]
    pub(crate) config: Option<PathBuf>,

    /// The server's URL (https://HOST:8443). Repeat it (or separate URLs
    /// with commas in MONITOR_SERVER) for servers to fail over to: the one
    /// that answered last is tried first, the next when it does not answer.
    #[arg(
        long,
        env = "MONITOR_SERVER",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub(crate) server: Vec<String>,

    /// This host's id on the server (default: the host name).
    #[arg(long, env = "MONITOR_SERVER_ID", value_name = "ID")]
    pub(crate) server_id: Option<String>,

    /// The server's token for this host. Prefer --token-file or the
    /// MONITOR_TOKEN variable: a flag is visible to every user in `ps`.
    #[arg(
        long,
        env = "MONITOR_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    /// A file holding the token (one line).
    #[arg(long, value_name = "PATH", conflicts_with = "token")]
    pub(crate) token_file: Option<PathBuf>,

    /// Seconds between two collections (fractions allowed, 0.1 to 86400).
    #[arg(
        long,
        env = "MONITOR_INTERVAL",
        default_value = "5",
        value_name = "SECONDS"
    )]
    pub(crate) interval: f64,

    /// CA bundle (PEM) that the server's certificate must chain to
    /// (default: the system's roots).
    #[arg(long, value_name = "PATH")]
    pub(crate) verify: Option<PathBuf>,

    /// Collectors to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "system,memory,cpu,disk,network,sensors,processes,smart,docker",
        value_name = "LIST"
    )]
    pub(crate) collectors: Vec<String>,

    /// Also read metrics from the `*.prom` files of this directory
    /// (Prometheus text format, as scripts and cron jobs write them).
    #[arg(long, value_name = "DIR")]
    pub(crate) textfile_dir: Option<PathBuf>,

    /// Also run this shell command every interval and read the metrics it
    /// prints (Prometheus text or the JSON sample form); repeat for more.
    #[arg(long, value_name = "COMMAND")]
    pub(crate) exec: Vec<String>,

    /// Seconds an --exec command may run before it is killed.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    pub(crate) exec_timeout: f64,

    /// Check that a service answers, every 30 s: an http:// or https:// URL
    /// (a 2xx answer, a valid certificate) or tcp://host:port (a
    /// connection); repeat for more. `[[probe]]` tables in the file set a
    /// name, interval, timeout, expected statuses and a CA.
    #[arg(long, value_name = "TARGET")]
    pub(crate) probe: Vec<String>,

    /// The `[[probe]]` tables of the file (none when `--probe` is given).
    #[arg(skip)]
    pub(crate) probe_tables: Vec<ProbeTable>,

    /// Print one snapshot as JSON to standard output and exit (takes about a
    /// second: CPU % and rates are measured over it).
    #[arg(long, conflicts_with = "stdout")]
    pub(crate) once: bool,

    /// Print one snapshot per interval as JSON lines until Ctrl-C.
    #[arg(long)]
    pub(crate) stdout: bool,

    /// Indent the JSON printed by --once and --stdout.
    #[arg(long)]
    pub(crate) pretty: bool,

    /// Docker daemon address (default: DOCKER_HOST, else the default socket).
    #[arg(long, value_name = "URL")]
    pub(crate) docker_host: Option<String>,

    /// Where the host's /proc is (when the agent runs in a container).
    #[arg(
        long,
        env = "MONITOR_HOST_PROC",
        default_value = "/proc",
        value_name = "PATH"
    )]
    pub(crate) host_proc: PathBuf,

    /// Where the host's /sys is (when the agent runs in a container).
    #[arg(
        long,
        env = "MONITOR_HOST_SYS",
        default_value = "/sys",
        value_name = "PATH"
    )]
    pub(crate) host_sys: PathBuf,

    /// Where the host's root file system is (when the agent runs in a
    /// container: -v /:/host/root:ro,rslave --host-root /host/root); its
    /// file systems are measured there.
    #[arg(
        long,
        env = "MONITOR_HOST_ROOT",
        default_value = "/",
        value_name = "PATH"
    )]
    pub(crate) host_root: PathBuf,

    /// Where snapshots wait while the server is unreachable.
    #[arg(
        long,
        env = "MONITOR_SPOOL_DIR",
        default_value = "/var/lib/monitor-agent/spool",
        value_name = "PATH"
    )]
    pub(crate) spool_dir: PathBuf,

    /// Largest spool size in MiB; the oldest snapshots are dropped beyond it.
    #[arg(long, default_value = "64", value_name = "MIB")]
    pub(crate) spool_max_mib: u64,

    /// Serve this host's metrics for Prometheus at http://ADDR/metrics
    /// (node_exporter style; with or without --server).
    #[arg(long, env = "MONITOR_LISTEN", value_name = "ADDR")]
    pub(crate) listen: Option<std::net::SocketAddr>,

    /// Certificate chain (PEM) to serve --listen over HTTPS.
    #[arg(long, value_name = "PATH", requires = "listen_tls_key")]
    pub(crate) listen_tls_cert: Option<PathBuf>,

    /// Private key (PEM) of --listen-tls-cert.
    #[arg(long, value_name = "PATH", requires = "listen_tls_cert")]
    pub(crate) listen_tls_key: Option<PathBuf>,

    /// A file holding `user:password` that scrapers of --listen must give
    /// (HTTP basic authentication).
    #[arg(long, value_name = "PATH")]
    pub(crate) listen_basic_auth_file: Option<PathBuf>,

    /// Send this host's metrics to an OpenTelemetry collector over OTLP/HTTP
    /// (http://HOST:4318; /v1/metrics is added), with or without --server.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub(crate) otlp_endpoint: Option<String>,

    /// `http/protobuf` (port 4318) or `grpc` (port 4317; needs the
    /// `otlp-grpc` feature).
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        default_value = "http/protobuf",
        value_name = "PROTOCOL"
    )]
    pub(crate) otlp_protocol: String,

    /// A header for the OTLP collector, `name=value` (repeat the flag, or
    /// comma-separate in OTEL_EXPORTER_OTLP_HEADERS).
    #[arg(
        long = "otlp-header",
        env = "OTEL_EXPORTER_OTLP_HEADERS",
        value_delimiter = ',',
        value_name = "NAME=VALUE",
        hide_env_values = true
    )]
    pub(crate) otlp_headers: Vec<String>,

    /// Seconds between two OTLP sends (each sends the newest snapshot).
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    pub(crate) otlp_interval: f64,

    /// `service.name` of the OTLP resource.
    #[arg(
        long,
        env = "OTEL_SERVICE_NAME",
        default_value = "monitor",
        value_name = "NAME"
    )]
    pub(crate) otlp_service_name: String,

    /// CA bundle (PEM) the OTLP collector's certificate must chain to
    /// (default: the system's roots).
    #[arg(long, value_name = "PATH")]
    pub(crate) otlp_verify: Option<PathBuf>,

    /// Log format on standard error (level from RUST_LOG, default info).
    #[arg(long, env = "MONITOR_LOG_FORMAT", value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,

    /// Print this command's completions for SHELL (bash, zsh, fish, elvish,
    /// powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub(crate) completions: Option<clap_complete::Shell>,

    /// Print this command's man page (roff) and exit.
    #[arg(long, exclusive = true)]
    pub(crate) man: bool,
}

/// A file key that takes one value or a list (`server`).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// A `[[probe]]` table of the configuration file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProbeTable {
    /// `https://…`, `http://…` or `tcp://host:port`.
    target: String,
    /// The `probe` label; the target by default.
    name: Option<String>,
    /// Seconds between checks.
    interval: Option<f64>,
    /// Seconds a check may take.
    timeout: Option<f64>,
    /// HTTP statuses that count as success (any 2xx when absent).
    expect_status: Option<Vec<u16>>,
    /// PEM CA (or pinned certificate) for an `https://` target.
    ca_file: Option<PathBuf>,
}

/// The agent's configuration file: every key optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentFile {
    server: Option<OneOrMany>,
    server_id: Option<String>,
    token_file: Option<PathBuf>,
    interval: Option<f64>,
    verify: Option<PathBuf>,
    collectors: Option<Vec<String>>,
    textfile_dir: Option<PathBuf>,
    exec: Option<Vec<String>>,
    exec_timeout: Option<f64>,
    probe: Option<Vec<ProbeTable>>,
    docker_host: Option<String>,
    host_proc: Option<PathBuf>,
    host_sys: Option<PathBuf>,
    host_root: Option<PathBuf>,
    spool_dir: Option<PathBuf>,
    spool_max_mib: Option<u64>,
    listen: Option<std::net::SocketAddr>,
    listen_tls_cert: Option<PathBuf>,
    listen_tls_key: Option<PathBuf>,
    listen_basic_auth_file: Option<PathBuf>,
    otlp_endpoint: Option<String>,
    otlp_protocol: Option<String>,
    otlp_header: Option<Vec<String>>,
    otlp_interval: Option<f64>,
    otlp_service_name: Option<String>,
    otlp_verify: Option<PathBuf>,
    log_format: Option<LogFormat>,
}

impl Cli {
    /// The flags, the environment, then the `--config` file under both
    /// ([`DEFAULT_FILE`] when none is named and it exists;
    /// `MONITOR_AGENT_CONFIG=""` reads none).
    pub(crate) fn load() -> anyhow::Result<Cli> {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches)?;
        if cli.man || cli.completions.is_some() {
            return Ok(cli);
        }
        let named = cli.config.is_some() || std::env::var_os("MONITOR_AGENT_CONFIG").is_some();
        let default = Path::new(DEFAULT_FILE);
        let file = match &cli.config {
            Some(path) if path.as_os_str().is_empty() => None,
            Some(path) => Some(path.clone()),
            None if !named && default.is_file() => Some(default.to_owned()),
            None => None,
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("--config {}: cannot read it", path.display()))?;
            let file: AgentFile = toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!("--config {}: {e}", path.display()))?;
            cli.apply(file, |id| {
                matches!(
                    matches.value_source(id),
                    Some(
                        clap::parser::ValueSource::CommandLine
                            | clap::parser::ValueSource::EnvVariable
                    )
                )
            });
        }
        Ok(cli)
    }

    /// Takes each setting of `file` that `given` (a flag or a variable)
    /// does not already set.
    fn apply(&mut self, file: AgentFile, given: impl Fn(&str) -> bool) {
        fn set<T>(slot: &mut T, value: Option<T>, given: bool) {
            if let (Some(v), false) = (value, given) {
                *slot = v;
            }
        }
        let server = file.server.map(OneOrMany::into_vec);
        set(&mut self.server, server, given("server"));
        set(
            &mut self.server_id,
            file.server_id.map(Some),
            given("server_id"),
        );
        // A token given by flag or variable wins over a token file.
        let token_given = given("token") || given("token_file");
        set(&mut self.token_file, file.token_file.map(Some), token_given);
        set(&mut self.interval, file.interval, given("interval"));
        set(&mut self.verify, file.verify.map(Some), given("verify"));
        set(&mut self.collectors, file.collectors, given("collectors"));
        set(
            &mut self.textfile_dir,
            file.textfile_dir.map(Some),
            given("textfile_dir"),
        );
        set(&mut self.exec, file.exec, given("exec"));
        // `--probe` flags replace the file's probes rather than add to them.
        set(&mut self.probe_tables, file.probe, given("probe"));
        set(
            &mut self.exec_timeout,
            file.exec_timeout,
            given("exec_timeout"),
        );
        set(
            &mut self.docker_host,
            file.docker_host.map(Some),
            given("docker_host"),
        );
        set(&mut self.host_proc, file.host_proc, given("host_proc"));
        set(&mut self.host_sys, file.host_sys, given("host_sys"));
        set(&mut self.host_root, file.host_root, given("host_root"));
        set(&mut self.spool_dir, file.spool_dir, given("spool_dir"));
        set(
            &mut self.spool_max_mib,
            file.spool_max_mib,
            given("spool_max_mib"),
        );
        set(&mut self.listen, file.listen.map(Some), given("listen"));
        set(
            &mut self.listen_tls_cert,
            file.listen_tls_cert.map(Some),
            given("listen_tls_cert"),
        );
        set(
            &mut self.listen_tls_key,
            file.listen_tls_key.map(Some),
            given("listen_tls_key"),
        );
        set(
            &mut self.listen_basic_auth_file,
            file.listen_basic_auth_file.map(Some),
            given("listen_basic_auth_file"),
        );
        set(
            &mut self.otlp_endpoint,
            file.otlp_endpoint.map(Some),
            given("otlp_endpoint"),
        );
        set(
            &mut self.otlp_protocol,
            file.otlp_protocol,
            given("otlp_protocol"),
        );
        set(
            &mut self.otlp_headers,
            file.otlp_header,
            given("otlp_headers"),
        );
        set(
            &mut self.otlp_interval,
            file.otlp_interval,
            given("otlp_interval"),
        );
        set(
            &mut self.otlp_service_name,
            file.otlp_service_name,
            given("otlp_service_name"),
        );
        set(
            &mut self.otlp_verify,
            file.otlp_verify.map(Some),
            given("otlp_verify"),
        );
        set(&mut self.log_format, file.log_format, given("log_format"));
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What the agent does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Print one snapshot.
    Once,
    /// Print a snapshot per interval.
    Stdout,
    /// Collect every interval for the server (`push`), for Prometheus
    /// (`listen`), or both.
    Run,
}

/// The `--listen` endpoint.
#[derive(Debug)]
#[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
pub(crate) struct Listen {
    pub(crate) addr: std::net::SocketAddr,
    /// Certificate and key, for HTTPS.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    pub(crate) basic_auth_file: Option<PathBuf>,
}

/// The validated settings.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) mode: Mode,
    pub(crate) server_id: ServerId,
    pub(crate) interval: Duration,
    pub(crate) collectors: Vec<String>,
    /// `--textfile-dir`.
    pub(crate) textfile_dir: Option<PathBuf>,
    /// `--exec` commands with their timeout.
    pub(crate) exec: Vec<String>,
    pub(crate) exec_timeout: Duration,
    /// `--probe` targets and `[[probe]]` tables, checked.
    #[cfg(feature = "probe")]
    pub(crate) probes: Vec<monitor_collectors::ProbeConfig>,
    pub(crate) pretty: bool,
    pub(crate) docker_host: Option<String>,
    pub(crate) host_proc: PathBuf,
    pub(crate) host_sys: PathBuf,
    pub(crate) host_root: PathBuf,
    /// Server URL, token and CA when pushing.
    pub(crate) push: Option<monitor_agent::push::PushConfig>,
    /// The metrics endpoint, when serving one.
    pub(crate) listen: Option<Listen>,
    /// The OTLP collector, when sending to one.
    pub(crate) otlp: Option<Otlp>,
}

/// The OTLP exporter's settings.
#[derive(Debug)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct Otlp {
    pub(crate) endpoint: String,
    /// `http/protobuf` or `grpc`, checked.
    pub(crate) protocol: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) interval: Duration,
    pub(crate) service_name: String,
    pub(crate) verify: Option<PathBuf>,
}

impl Cli {
    /// Checks the flags together and reports every problem at once.
    pub(crate) fn settings(&self) -> anyhow::Result<Settings> {
        let mut problems = Vec::new();

        let mode = if self.once {
            Mode::Once
        } else if self.stdout {
            Mode::Stdout
        } else {
            Mode::Run
        };
        // Pushing is what the agent does unless it only serves Prometheus
        // or sends OTLP.
        let pushing = mode == Mode::Run
            && (!self.server.is_empty() || (self.listen.is_none() && self.otlp_endpoint.is_none()));

        if !(self.interval.is_finite() && (0.1..=86_400.0).contains(&self.interval)) {
            problems.push(format!(
                "--interval {} is out of range: give seconds between 0.1 and 86400",
                self.interval
            ));
        }

        let mut collectors = Vec::new();
        for name in &self.collectors {
            let name = name.trim();
            if !monitor_collectors::BUILTIN.contains(&name) {
                problems.push(format!(
                    "--collectors: unknown collector {name:?}; choose among {}",
                    monitor_collectors::BUILTIN.join(", ")
                ));
            } else if !collectors.iter().any(|c| c == name) {
                collectors.push(name.to_owned());
            }
        }
        #[cfg(not(feature = "docker"))]
        collectors.retain(|c| c != "docker");
        if collectors.is_empty() {
            problems.push("--collectors: give at least one collector".into());
        }

        let server_id = match &self.server_id {
            Some(id) => match ServerId::new(id.clone()) {
                Ok(id) => Some(id),
                Err(e) => {
                    problems.push(format!("--server-id: {e}"));
                    None
                }
            },
            None if pushing => {
                problems.push("--server-id is required to push to a server".into());
                None
            }
            None => Some(default_server_id()),
        };

        if pushing {
            if self.server.is_empty() {
                problems.push(
                    "--server is required (or --listen ADDR to serve Prometheus, --otlp-endpoint URL to send OTLP, or --once or --stdout to print snapshots)".into(),
                );
            }
            for url in &self.server {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    problems.push(format!(
                        "--server {url:?} must be a URL starting with https://"
                    ));
                }
            }
            if self.token.is_none() && self.token_file.is_none() {
                problems.push(
                    "a token is required: --token-file PATH, MONITOR_TOKEN, or --token".into(),
                );
            }
            for url in &self.server {
                if url.starts_with("http://") && !is_loopback_url(url) {
                    problems.push(format!(
                        "--server {url:?}: the token would cross the network in clear text; use https:// (plain http:// is only for a server on this machine)"
                    ));
                }
            }
        }
        // Read only to push: `--once` on a host whose agent.toml names a
        // token file it may not read still prints.
        if let Some(path) = &self.token_file
            && pushing
            && let Err(e) = std::fs::metadata(path)
        {
            problems.push(format!("--token-file {}: {e}", path.display()));
        }
        if let Some(path) = &self.verify
            && let Err(e) = std::fs::metadata(path)
        {
            problems.push(format!("--verify {}: {e}", path.display()));
        }
        if let Some(dir) = &self.textfile_dir
            && !dir.is_dir()
        {
            problems.push(format!(
                "--textfile-dir {}: not a directory (create it, or leave the flag out)",
                dir.display()
            ));
        }
        if !(self.exec_timeout.is_finite() && (0.1..=3600.0).contains(&self.exec_timeout)) {
            problems.push(format!(
                "--exec-timeout {} is out of range: give seconds between 0.1 and 3600",
                self.exec_timeout
            ));
        }
        if self.exec.iter().any(|c| c.trim().is_empty()) {
            problems.push("--exec: give a command (an empty one would run nothing)".into());
        }
        #[cfg(feature = "probe")]
        let probes = self.probes(&mut problems);
        #[cfg(not(feature = "probe"))]
        if !self.probe.is_empty() || !self.probe_tables.is_empty() {
            problems.push("--probe: this agent was built without the `probe` feature".into());
        }
        if !self.host_proc.join("stat").exists() {
            problems.push(format!(
                "--host-proc {}: no stat file there; point it at the host's /proc",
                self.host_proc.display()
            ));
        }
        if !self.host_root.is_dir() {
            problems.push(format!(
                "--host-root {}: not a directory; point it at where the host's / is mounted",
                self.host_root.display()
            ));
        } else if self.host_root != Path::new("/") && !self.host_proc.join("1/mounts").exists() {
            problems.push(format!(
                "--host-root {}: the host's mount table {} is not there; mount the host's /proc too (--host-proc)",
                self.host_root.display(),
                self.host_proc.join("1/mounts").display()
            ));
        }

        if self.listen.is_some() && !cfg!(feature = "prometheus") {
            problems.push("--listen: this agent was built without the `prometheus` feature".into());
        }
        for (flag, path) in [
            ("--listen-tls-cert", &self.listen_tls_cert),
            ("--listen-tls-key", &self.listen_tls_key),
            ("--listen-basic-auth-file", &self.listen_basic_auth_file),
        ] {
            if let Some(path) = path {
                if self.listen.is_none() {
                    problems.push(format!("{flag} needs --listen ADDR"));
                } else if let Err(e) = std::fs::metadata(path) {
                    problems.push(format!("{flag} {}: {e}", path.display()));
                }
            }
        }

        let mut otlp_headers = Vec::new();
        if self.otlp_endpoint.is_some() {
            if !cfg!(feature = "otlp") {
                problems.push(
                    "--otlp-endpoint: this agent was built without the `otlp` feature".into(),
                );
            }
            if !(self.otlp_interval.is_finite() && (0.1..=86_400.0).contains(&self.otlp_interval)) {
                problems.push(format!(
                    "--otlp-interval {} is out of range: give seconds between 0.1 and 86400",
                    self.otlp_interval
                ));
            }
            if !["http/protobuf", "http", "grpc"].contains(&self.otlp_protocol.trim()) {
                problems.push(format!(
                    "--otlp-protocol {:?}: give http/protobuf or grpc",
                    self.otlp_protocol
                ));
            } else if self.otlp_protocol.trim() == "grpc" && !cfg!(feature = "otlp-grpc") {
                problems.push(
                    "--otlp-protocol grpc: this agent was built without the `otlp-grpc` feature; use http/protobuf (port 4318)".into(),
                );
            }
            for header in self.otlp_headers.iter().filter(|h| !h.trim().is_empty()) {
                match header.split_once('=') {
                    Some((name, value)) if !name.trim().is_empty() => {
                        otlp_headers.push((name.trim().to_owned(), value.trim().to_owned()));
                    }
                    _ => problems.push(format!(
                        "--otlp-header {header:?}: give name=value (api-key=0123)"
                    )),
                }
            }
        }
        if let Some(path) = &self.otlp_verify
            && let Err(e) = std::fs::metadata(path)
        {
            problems.push(format!("--otlp-verify {}: {e}", path.display()));
        }

        if !problems.is_empty() {
            bail!("invalid configuration:\n  - {}", problems.join("\n  - "));
        }
        let otlp = match (&self.otlp_endpoint, mode) {
            (Some(endpoint), Mode::Run) => Some(Otlp {
                endpoint: endpoint.clone(),
                protocol: self.otlp_protocol.trim().to_owned(),
                headers: otlp_headers,
                interval: Duration::from_secs_f64(self.otlp_interval),
                service_name: self.otlp_service_name.clone(),
                verify: self.otlp_verify.clone(),
            }),
            _ => None,
        };
        let listen = match (self.listen, mode) {
            (Some(addr), Mode::Run) => Some(Listen {
                addr,
                tls: self
                    .listen_tls_cert
                    .clone()
                    .zip(self.listen_tls_key.clone()),
                basic_auth_file: self.listen_basic_auth_file.clone(),
            }),
            _ => None,
        };
        let server_id = server_id.context("no server id")?;
        let push = match (self.server.split_first(), mode) {
            (Some((server, failover)), Mode::Run) => {
                let token = match (&self.token, &self.token_file) {
                    (Some(t), _) => t.trim().to_owned(),
                    (None, Some(path)) => std::fs::read_to_string(path)
                        .with_context(|| format!("--token-file {}", path.display()))?
                        .trim()
                        .to_owned(),
                    (None, None) => bail!("a token is required"),
                };
                if token.is_empty() {
                    bail!("the token is empty: check --token-file or MONITOR_TOKEN");
                }
                Some(monitor_agent::push::PushConfig {
                    server: server.clone(),
                    failover: failover.to_vec(),
                    token,
                    verify: self.verify.clone(),
                    spool_dir: self.spool_dir.clone(),
                    spool_max_bytes: self.spool_max_mib.max(1) << 20,
                    timeout: Duration::from_secs(30),
                })
            }
            _ => None,
        };
        Ok(Settings {
            mode,
            server_id,
            interval: Duration::from_secs_f64(self.interval),
            collectors,
            textfile_dir: self.textfile_dir.clone(),
            exec: self.exec.clone(),
            exec_timeout: Duration::from_secs_f64(self.exec_timeout.clamp(0.1, 3600.0)),
            #[cfg(feature = "probe")]
            probes,
            pretty: self.pretty,
            docker_host: self.docker_host.clone(),
            host_proc: self.host_proc.clone(),
            host_sys: self.host_sys.clone(),
            host_root: self.host_root.clone(),
            push,
            listen,
            otlp,
        })
    }
}

#[cfg(feature = "probe")]
impl Cli {
    /// The probes of `--probe` and of `[[probe]]` tables, each checked
    /// (with their CA files read); problems go to `problems`.
    fn probes(&self, problems: &mut Vec<String>) -> Vec<monitor_collectors::ProbeConfig> {
        use monitor_collectors::ProbeConfig;
        let before = problems.len();
        let mut probes = Vec::new();
        for target in &self.probe {
            match ProbeConfig::new(target) {
                Ok(probe) => probes.push(probe),
                Err(e) => problems.push(format!("--probe {e}")),
            }
        }
        for (i, table) in self.probe_tables.iter().enumerate() {
            let place = format!("[[probe]] {} ({:?})", i + 1, table.target);
            let mut probe = match ProbeConfig::new(&table.target) {
                Ok(probe) => probe,
                Err(e) => {
                    problems.push(format!("[[probe]] {}: target {e}", i + 1));
                    continue;
                }
            };
            if let Some(name) = &table.name {
                probe.name.clone_from(name);
            }
            for (key, value, slot, range) in [
                (
                    "interval",
                    table.interval,
                    &mut probe.interval,
                    1.0..=86_400.0,
                ),
                ("timeout", table.timeout, &mut probe.timeout, 0.1..=3600.0),
            ] {
                match value {
                    Some(secs) if secs.is_finite() && range.contains(&secs) => {
                        *slot = Duration::from_secs_f64(secs);
                    }
                    Some(secs) => problems.push(format!(
                        "{place}: {key} {secs} is out of range: give seconds between {} and {}",
                        range.start(),
                        range.end()
                    )),
                    None => {}
                }
            }
            probe.expect_status = table.expect_status.clone().unwrap_or_default();
            probe.ca_file.clone_from(&table.ca_file);
            probes.push(probe);
        }
        // Checks the settings together, and reads the CA files.
        if problems.len() == before
            && let Err(e) = monitor_collectors::ProbeCollector::new(probes.clone())
        {
            problems.push(e.to_string());
        }
        probes
    }
}

/// The host name made into a valid server id (`web-1.example`).
fn default_server_id() -> ServerId {
    let host = sysinfo::System::host_name().unwrap_or_default();
    let mut id: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(monitor_core::model::MAX_SERVER_ID_LEN)
        .collect();
    id = id.trim_start_matches(['.', '_', '-']).to_owned();
    ServerId::new(id).unwrap_or_else(|_| {
        // A host name with no usable character: fall back to a fixed id.
        ServerId::new("localhost").unwrap_or_else(|_| unreachable!("valid literal id"))
    })
}

/// Whether `url` leads to this machine: its host, as a URL parser reads it
/// (`http://127.0.0.1:1@evil.example/` is evil.example, whatever comes
/// before the `@`), is `localhost` or a loopback address.
fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let Some(host) = parsed.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests;
