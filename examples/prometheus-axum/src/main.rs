//! Run with: `cargo run -p example-prometheus-axum`, then
//! `curl http://127.0.0.1:3000/metrics`
//!
//! Your own axum app, with this host's metrics beside the app's own: the
//! built-in collectors run every 5 s into a Prometheus exporter, which
//! joins the app's `prometheus` registry (it is a `prometheus::core::Collector`).
//! The interesting part is `app` and `agent`: a dozen lines.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use monitor_agent::Agent;
use monitor_collectors::export::prometheus::{CONTENT_TYPE, PrometheusExporter, encode};
use monitor_collectors::{BUILTIN, HostPaths, builtin};
use monitor_core::ServerId;
use prometheus::{IntCounter, Registry};

/// The app's state: its registry and one metric of its own.
#[derive(Clone)]
struct App {
    registry: Registry,
    hellos: IntCounter,
}

/// The app: its own route, and `/metrics` with everything registered.
fn app(exporter: PrometheusExporter) -> Result<Router, prometheus::Error> {
    let registry = Registry::new();
    let hellos = IntCounter::new("app_hellos_total", "Greetings served.")?;
    registry.register(Box::new(hellos.clone()))?;
    // The host's metrics, rendered from the newest snapshot at each scrape.
    registry.register(Box::new(exporter))?;
    let state = App { registry, hellos };
    Ok(Router::new()
        .route(
            "/",
            get(|State(app): State<App>| async move {
                app.hellos.inc();
                "hello\n"
            }),
        )
        .route(
            "/metrics",
            get(|State(app): State<App>| async move {
                (
                    [("content-type", CONTENT_TYPE)],
                    encode(&app.registry.gather()),
                )
            }),
        )
        .with_state(state))
}

/// The built-in collectors, feeding `exporter`.
fn agent(exporter: PrometheusExporter) -> Result<Agent, Box<dyn std::error::Error>> {
    let mut agent = Agent::new(ServerId::new("this-host")?, Duration::from_secs(5))
        .with_exporter(Box::new(exporter));
    let paths = HostPaths::default();
    for name in BUILTIN.iter().filter(|n| **n != "docker") {
        agent = agent.with_collector(builtin(name, &paths)?);
    }
    Ok(agent)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One exporter, two handles: the agent feeds it, the app serves it.
    let exporter = PrometheusExporter::new();
    let mut agent = agent(exporter.clone())?;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(agent.interval());
        loop {
            ticker.tick().await;
            agent.tick().await;
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("serving http://127.0.0.1:3000/metrics");
    axum::serve(listener, app(exporter)?).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_apps_metrics_and_the_hosts_come_out_together() {
        let exporter = PrometheusExporter::new();
        let mut agent = agent(exporter.clone()).unwrap_or_else(|e| panic!("{e}"));
        agent.tick().await;
        let app = app(exporter).unwrap_or_else(|e| panic!("{e}"));
        let get = |path: &str| axum::http::Request::get(path).body(axum::body::Body::empty());
        app.clone()
            .oneshot(get("/").unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|e| match e {});
        let response = app
            .oneshot(get("/metrics").unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|e| match e {});
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("app_hellos_total 1\n"), "{text}");
        assert!(
            text.contains("# TYPE monitor_memory_total_bytes gauge\n"),
            "{text}"
        );
    }
}
