//! What the end-to-end tests share: the two binaries, a directory per
//! test, and the server tests' helpers (a child process and a directory
//! that clean up after themselves, a free port, TLS clients trusting one
//! CA).

#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../monitor-server/tests/common/mod.rs"]
mod server;

pub(crate) use server::*;

/// The agent binary: `monitor-agent`'s own main.rs, built by this package.
pub(crate) const AGENT: &str = env!("CARGO_BIN_EXE_e2e-monitor-agent");

/// The server binary: `monitor-server`'s own main.rs, built by this package.
pub(crate) const SERVER: &str = env!("CARGO_BIN_EXE_e2e-monitor-server");

/// An empty directory `monitor-<test>-<name>-<pid>` under the temp dir.
pub(crate) fn dir(test: &str, name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("monitor-{test}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}
