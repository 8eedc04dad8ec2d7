//! What one Prometheus scrape of the server's `/metrics` costs with many
//! hosts reporting: the handler through the router (no socket), SQLite
//! store, each host's newest snapshot the 52-sample report of the storage
//! benchmark.
//!
//! Run with: `cargo bench -p monitor-server --bench scrape`
//! (`BENCH_HOSTS`, default 1,000; `BENCH_SCRAPES`, default 20).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use monitor_core::testing::{Rng, report};
use monitor_core::{Store, Timestamp};
use monitor_server::api::{AppState, router};
use monitor_server::auth::{Scope, Token};
use monitor_store::{SqlStore, StoreOptions};
use tower::ServiceExt;

/// The server binary's allocator, so that the figures are its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let hosts = common::env("BENCH_HOSTS", 1000);
    let scrapes = common::env("BENCH_SCRAPES", 20);
    let rt = common::runtime();
    let dir = std::env::temp_dir().join(format!("monitor-scrape-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    rt.block_on(async {
        let mut options = StoreOptions::sqlite(dir.join("db"));
        options.latest_in_memory = hosts.max(1000);
        let store = Arc::new(SqlStore::open(options).await.unwrap());
        let now = Timestamp::now().as_millis();
        let mut rng = Rng(7);
        for i in 0..hosts {
            let id = format!("host-{i:05}");
            common::register(&*store, &id, i as u64).await;
            let mut snapshot = report(&id, now, 0, &mut rng);
            snapshot.interval_secs = Some(5.0);
            store.ingest(vec![snapshot]).await.unwrap();
        }
        let admin = Token::generate(Scope::Admin).unwrap();
        let app = router(AppState::new(store, &admin, None));
        let scrape = || {
            let app = app.clone();
            async move {
                let started = Instant::now();
                let response = app
                    .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (started.elapsed(), body)
            }
        };
        let (_, body) = scrape().await;
        let samples = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty() && l[0] != b'#')
            .count();
        let mut times: Vec<f64> = Vec::with_capacity(scrapes);
        for _ in 0..scrapes {
            times.push(scrape().await.0.as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "/metrics with {hosts} hosts reporting: {samples} samples, {:.1} MiB; {scrapes} scrapes: median {:.1} ms, max {:.1} ms",
            body.len() as f64 / (1 << 20) as f64,
            times[times.len() / 2],
            times[times.len() - 1]
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
