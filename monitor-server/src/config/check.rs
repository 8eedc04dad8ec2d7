//! `monitor-server check-config`: the configuration and the files it names,
//! checked without starting anything.

use std::path::Path;

use super::{ServerConfig, hide_password};
use crate::server::{ServerError, read_secret};

/// Checks what [`crate::server::ServerBuilder::build`] would read before it
/// listens: the settings together, the TLS certificate and key, the token
/// files, the data directory, the database URL (not connected to) and the
/// webhooks. Creates, writes and connects to nothing.
///
/// # Errors
/// The first [`ServerError`] the server would stop on at start.
pub fn check(config: &ServerConfig) -> Result<Vec<String>, ServerError> {
    config.validate()?;
    let mut found = vec![format!("listen: {}", config.listen)];
    found.push(writable_dir(&config.data_dir)?);
    if config.tls.self_signed {
        let dir = config.data_dir.join("tls");
        let (cert, key) = (dir.join("server.pem"), dir.join("server-key.pem"));
        if cert.exists() && key.exists() {
            crate::tls::server_config(&cert, &key)?;
            found.push(format!(
                "tls: the self-signed certificate {} loads",
                cert.display()
            ));
        } else {
            found.push(format!(
                "tls: a local CA and certificate will be made in {} at the first start",
                dir.display()
            ));
        }
    } else if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        crate::tls::server_config(cert, key)?;
        let names = crate::tls::certificate_names(cert);
        found.push(format!(
            "tls: {} and its key {} load (names: {})",
            cert.display(),
            key.display(),
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ));
    } else {
        found.push("tls: off (plain HTTP)".into());
    }
    let tokens = &config.tokens;
    for (setting, file) in [
        ("tokens.dashboard_token_file", &tokens.dashboard_token_file),
        ("tokens.read_token_file", &tokens.read_token_file),
        ("tokens.admin_token_file", &tokens.admin_token_file),
    ] {
        if let Some(path) = file {
            read_secret(path, setting)?;
            found.push(format!("{setting}: {} holds a token", path.display()));
        }
    }
    if tokens.admin_token_file.is_none() {
        let path = config.data_dir.join("admin.token");
        if path.exists() {
            read_secret(&path, "the admin token file")?;
            found.push(format!("admin token: {} holds one", path.display()));
        } else {
            found.push(format!(
                "admin token: will be generated in {} at the first start",
                path.display()
            ));
        }
    }
    let url = config.database_url();
    monitor_store::StoreOptions::from_url(&url)?;
    found.push(format!(
        "database: {} (a valid URL; not connected to)",
        hide_password(&url)
    ));
    let hooks = crate::server::webhooks(&config.alerts)?;
    found.push(format!("alerts: {} webhook(s)", hooks.len()));
    if let Some(otlp) = config.otlp.exporter()? {
        found.push(format!("otlp: relaying to {}", otlp.url()));
    }
    if let Some(remote) = config.remote_write.exporter()? {
        found.push(format!("remote_write: writing to {}", remote.url));
    }
    Ok(found)
}

/// That `dir` is a directory this user may write in, or one it may make.
fn writable_dir(dir: &Path) -> Result<String, ServerError> {
    let problem = |what: String| ServerError::Config(super::invalid("data_dir", what));
    let mut existing = dir;
    while !existing.exists() {
        match existing.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
            _ => {
                existing = Path::new(".");
                break;
            }
        }
    }
    if !existing.is_dir() {
        return Err(problem(format!(
            "{} is not a directory",
            existing.display()
        )));
    }
    if rustix::fs::access(existing, rustix::fs::Access::WRITE_OK).is_err() {
        return Err(problem(format!(
            "{} is not writable by this user: give the server's user the directory (the systemd unit's StateDirectory does)",
            existing.display()
        )));
    }
    Ok(if existing == dir {
        format!("data_dir: {} is writable", dir.display())
    } else {
        format!(
            "data_dir: {} will be made (in {}, writable)",
            dir.display(),
            existing.display()
        )
    })
}
