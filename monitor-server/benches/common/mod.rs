//! What the server's benchmarks share: their settings from the
//! environment, the two-thread runtime of this 2-core machine, hosts
//! registered straight in a store, the release server as a process over
//! HTTPS, and what a process uses.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use monitor_core::catalog::NewServer;
use monitor_core::{Catalog, ServerId, Timestamp, TokenHash};

/// The number in the variable `name`, or `default`.
pub(crate) fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A runtime of two worker threads, as the server's on this machine.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Registers the host `id` in `store`, with a token hash made of `n`.
pub(crate) async fn register(store: &dyn Catalog, id: &str, n: u64) {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&n.to_le_bytes());
    store
        .register_server(NewServer {
            id: ServerId::new(id).unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: TokenHash(hash),
            created: Timestamp::now(),
        })
        .await
        .unwrap();
}

/// The release server, started over HTTPS with its local CA on a free
/// loopback port; stopped gracefully when dropped (then killed), its data
/// directory removed.
pub(crate) struct ServerProcess {
    pub(crate) child: std::process::Child,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) port: u16,
    /// Its self-signed TLS files (agents trust `certs.ca`).
    pub(crate) certs: monitor_server::tls::SelfSigned,
}

impl ServerProcess {
    /// Starts `monitor-server` (the binary cargo built for the bench) with
    /// the admin token `admin` and the log filter `log`.
    pub(crate) fn start(name: &str, admin: &str, log: &str) -> ServerProcess {
        ServerProcess::start_on(name, admin, log, None)
    }

    /// The same, storing in the database at `database` (a PostgreSQL URL)
    /// instead of SQLite in its data directory.
    pub(crate) fn start_on(
        name: &str,
        admin: &str,
        log: &str,
        database: Option<&str>,
    ) -> ServerProcess {
        ServerProcess::launch(name, admin, log, database, "")
    }

    /// The same with `config` (TOML) as its configuration file.
    pub(crate) fn launch(
        name: &str,
        admin: &str,
        log: &str,
        database: Option<&str>,
        config: &str,
    ) -> ServerProcess {
        let dir = std::env::temp_dir().join(format!("monitor-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let certs = monitor_server::tls::self_signed(&dir.join("tls"), &[]).unwrap();
        let port = free_port();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_monitor-server"));
        if let Some(url) = database {
            command.env("MONITOR_DATABASE_URL", url);
        }
        if !config.is_empty() {
            let file = dir.join("bench.toml");
            std::fs::write(&file, config).unwrap();
            command.arg("--config").arg(file);
        }
        let child = command
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--tls-self-signed",
                "--data-dir",
            ])
            .arg(&dir)
            .env("MONITOR_ADMIN_TOKEN", admin)
            .env_remove("DASHBOARD_TOKEN")
            .env_remove("MONITOR_CONFIG")
            .env("RUST_LOG", log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        ServerProcess {
            child,
            dir,
            port,
            certs,
        }
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A graceful stop first (MIMALLOC_SHOW_STATS=1 then prints the
        // allocator's figures), then a kill if it takes too long.
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port free a moment ago.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `(utime + stime)` of a process, in clock ticks (1/100 s), and its RSS
/// in KiB.
pub(crate) fn usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (ticks, rss)
}

/// The TLS setup of a simulated agent: trust the server's local CA only.
pub(crate) fn tls_config(ca: &std::path::Path) -> std::sync::Arc<rustls::ClientConfig> {
    tls_config_all(&[ca])
}

/// The same trusting the local CAs of several servers.
pub(crate) fn tls_config_all(cas: &[&std::path::Path]) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// The load generator: simulated agents over TLS.
pub(crate) mod traffic;
