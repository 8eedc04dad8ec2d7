//! What `POST /api/alerts/preview` costs: hosts with a day of 5-s reports
//! (the 52-sample report of the storage benchmark) in an SQLite store, a
//! rule on every CPU series (five per host) previewed over those 24 hours
//! through the router (no socket), read raw.
//!
//! Run with: `cargo bench -p monitor-server --bench preview`
//! (`BENCH_HOSTS`, default 10; `BENCH_PREVIEWS`, default 5).

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

/// Reports per host: a day at one every 5 s.
const REPORTS: i64 = 17_280;

fn main() {
    let hosts = common::env("BENCH_HOSTS", 10);
    let previews = common::env("BENCH_PREVIEWS", 5);
    let rt = common::runtime();
    let dir = std::env::temp_dir().join(format!("monitor-preview-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    rt.block_on(async {
        let store = Arc::new(
            SqlStore::open(StoreOptions::sqlite(dir.join("db")))
                .await
                .unwrap(),
        );
        let start = Timestamp::now().as_millis() - REPORTS * 5_000;
        let mut rng = Rng(7);
        let filled = Instant::now();
        for h in 0..hosts {
            let id = format!("host-{h:03}");
            common::register(&*store, &id, h as u64).await;
            for chunk in (0..REPORTS).collect::<Vec<_>>().chunks(500) {
                let batch = chunk
                    .iter()
                    .map(|&i| report(&id, start + i * 5_000, i, &mut rng))
                    .collect();
                store.ingest(batch).await.unwrap();
            }
        }
        eprintln!(
            "{hosts} hosts × {REPORTS} reports stored in {:.1} s",
            filled.elapsed().as_secs_f64()
        );
        let admin = Token::generate(Scope::Admin).unwrap();
        let app = router(AppState::new(store, &admin, None));
        let rule = r#"{"metric": "cpu_usage_percent", "op": ">", "threshold": 90, "for_secs": 10}"#;
        let preview = || {
            let app = app.clone();
            async move {
                let started = Instant::now();
                let request = Request::post("/api/alerts/preview")
                    .body(Body::from(rule))
                    .unwrap();
                let response = app.oneshot(request).await.unwrap();
                assert_eq!(response.status(), 200);
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (started.elapsed(), body)
            }
        };
        let (_, body) = preview().await;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let servers = answer["servers"].as_array().unwrap();
        let reports: u64 = servers.iter().map(|s| s["reports"].as_u64().unwrap()).sum();
        let tier = format!(
            "{} in {} s buckets",
            servers[0]["tier"].as_str().unwrap(),
            servers[0]["step_secs"]
        );
        let mut times: Vec<f64> = Vec::with_capacity(previews);
        for _ in 0..previews {
            times.push(preview().await.0.as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "preview of a rule on 5 CPU series over 24 h, {hosts} hosts ({} reports read {tier}, {} fired): median {median:.0} ms ({:.1} ms per host, {:.2} µs per report), max {:.0} ms",
            reports,
            answer["fired"],
            median / hosts as f64,
            median * 1000.0 / reports.max(1) as f64,
            times[times.len() - 1]
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
