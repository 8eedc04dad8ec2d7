//! What the server's tests share: a child process and a directory that
//! clean up after themselves, a free port, TLS clients trusting one CA.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;

/// A child process, killed and reaped when dropped.
pub(crate) struct Process(pub(crate) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory, removed when dropped.
pub(crate) struct Dir(pub(crate) PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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

/// A rustls client configuration trusting only the CA in `ca` (none: no
/// certificate at all, for plain HTTP).
pub(crate) fn tls_config(ca: Option<&Path>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}

/// An HTTP client trusting only the CA in `ca` (reqwest is built without a
/// default TLS provider in this workspace), following no redirects, as an
/// agent or a browser given the CA would see the server.
pub(crate) fn client(ca: Option<&Path>) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(ca))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The server's router (SQLite in a directory of its own, admin token
/// `smk_adm_test_admin_token_0123456789`) served with `options` on a
/// loopback port until `shutdown` completes: its address, its directory
/// and the serving task.
pub(crate) async fn serve_on_loopback(
    options: monitor_server::serve::ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (std::net::SocketAddr, Dir, tokio::task::JoinHandle<()>) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("monitor-conn-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = monitor_store::SqlStore::open(monitor_store::StoreOptions::sqlite(dir.join("db")))
        .await
        .unwrap();
    let admin =
        monitor_server::auth::Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    let app = monitor_server::api::router(monitor_server::api::AppState::new(
        Arc::new(store),
        &admin,
        None,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move {
        monitor_server::serve::serve(listener, app, options, shutdown)
            .await
            .unwrap();
    });
    (addr, Dir(dir), serving)
}
