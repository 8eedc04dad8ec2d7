//! The command line of `monitor-server`, and its resolution into a
//! [`ServerConfig`] over the file and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{ConfigError, DEFAULT_FILE, LogFormat, ServerConfig};

/// The command line of `monitor-server` (every flag overrides the file and
/// the environment).
#[derive(Debug, clap::Parser)]
#[command(
    name = "monitor-server",
    version = crate::VERSION,
    about = "The monitor server: registers hosts, receives their metrics, keeps history.",
    after_help = "Every setting can also come from a TOML file (--config; /etc/monitor/server.toml when it exists) or \
the environment (MONITOR_ and the key in capitals, dots as underscores: MONITOR_RETENTION_RAW=14d): see \
docs/configuration.md.\n\nExit status: 0 stopped cleanly; 1 failed while running (starting again may work); \
2 wrong command line; 78 configuration error (fix it first: the systemd unit does not restart on it)."
)]
pub struct Flags {
    /// TOML configuration file (also MONITOR_CONFIG; default
    /// /etc/monitor/server.toml when it exists).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Address to listen on (default 0.0.0.0:8443). Without TLS only a
    /// loopback address is allowed (behind a TLS-terminating proxy such as
    /// nginx: 127.0.0.1:8001), unless --insecure-http.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,

    /// Make (once) a local CA and a server certificate in DATA_DIR/tls and
    /// serve TLS with them; agents trust the printed CA file with --verify.
    #[arg(long)]
    pub tls_self_signed: bool,

    /// Extra host names or IP addresses for the self-signed certificate
    /// (localhost, 127.0.0.1 and ::1 are always in it); repeatable.
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_names: Vec<String>,

    /// Directory for the SQLite database, the generated admin token and the
    /// self-signed TLS files (default ./.data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Database URL (default: sqlite://DATA_DIR/monitor.db); postgres://...
    /// for PostgreSQL.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,

    /// Serve plain HTTP on a non-loopback address (tokens then cross the
    /// network in clear text: only for trusted networks).
    #[arg(long)]
    pub insecure_http: bool,

    /// A host name this server answers to, besides IP addresses, localhost
    /// and its certificate's names (the public name behind nginx);
    /// repeatable.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,

    /// Log format on standard error: text or json (level from RUST_LOG,
    /// default info).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Print this command's completions for SHELL (bash, zsh, fish, elvish,
    /// powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print this command's man page (roff) and exit.
    #[arg(long, exclusive = true)]
    pub man: bool,

    /// Print the configuration in effect (as TOML) and exit.
    #[arg(long)]
    pub print_config: bool,

    /// What to run (default: the server).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
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
    /// Check the configuration and the files it names (TLS certificate and
    /// key, token files, data directory, webhooks) without starting; exit
    /// 0 when the server would start with it, 78 naming what to fix.
    CheckConfig,
}

impl Flags {
    /// The configuration in effect: defaults, the file, the environment
    /// (read through `env`), these flags; checked.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, variable, key or flag at fault.
    pub fn resolve(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ServerConfig, ConfigError> {
        self.resolve_with_default(env, std::path::Path::new(DEFAULT_FILE))
    }

    /// The file read: `--config`, else `MONITOR_CONFIG`, else `default`
    /// when it exists. `MONITOR_CONFIG=""` reads none.
    pub fn file(
        &self,
        env: impl Fn(&str) -> Option<String>,
        default: &std::path::Path,
    ) -> Option<PathBuf> {
        match (&self.config, env("MONITOR_CONFIG")) {
            (Some(path), _) => Some(path.clone()),
            (None, Some(path)) if path.is_empty() => None,
            (None, Some(path)) => Some(PathBuf::from(path)),
            (None, None) => default.is_file().then(|| default.to_owned()),
        }
    }

    /// [`Flags::resolve`] with another default file than [`DEFAULT_FILE`].
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, variable, key or flag at fault.
    pub fn resolve_with_default(
        &self,
        env: impl Fn(&str) -> Option<String>,
        default: &std::path::Path,
    ) -> Result<ServerConfig, ConfigError> {
        let mut c = match self.file(&env, default) {
            Some(path) => ServerConfig::from_file(&path)?,
            None => ServerConfig::default(),
        };
        c.apply_env(&env)?;
        if let Some(listen) = self.listen {
            c.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            c.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            c.database_url = Some(url.clone());
        }
        if let Some(cert) = &self.tls_cert {
            c.tls.cert = Some(cert.clone());
        }
        if let Some(key) = &self.tls_key {
            c.tls.key = Some(key.clone());
        }
        c.tls.self_signed |= self.tls_self_signed;
        c.tls.names.extend(self.tls_names.iter().cloned());
        c.insecure_http |= self.insecure_http;
        c.allowed_hosts.extend(self.allowed_hosts.iter().cloned());
        if let Some(format) = self.log_format {
            c.log_format = format;
        }
        if let Some(Command::Quickstart { port, .. }) = &self.command {
            c.listen = SocketAddr::from(([127, 0, 0, 1], *port));
        }
        c.validate()?;
        Ok(c)
    }
}
