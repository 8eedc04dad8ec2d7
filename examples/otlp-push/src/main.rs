//! Run with: `cargo run -p example-otlp-push` (an OpenTelemetry collector
//! listening for OTLP/HTTP on 127.0.0.1:4318, or set
//! `OTEL_EXPORTER_OTLP_ENDPOINT`).
//!
//! The built-in collectors, every 5 s, to an OTLP endpoint: an agent with
//! one exporter and no monitor server. The metrics follow the OpenTelemetry
//! semantic conventions (`system.memory.usage`, `system.cpu.utilization`,
//! ...; the table is in docs/metrics.md).

use std::time::Duration;

use monitor_agent::Agent;
use monitor_collectors::export::otlp::{OtlpConfig, OtlpExporter};
use monitor_collectors::{BUILTIN, HostPaths, builtin};
use monitor_core::ServerId;

/// An agent with the built-in collectors (Docker aside) sending to `endpoint`.
fn agent(
    endpoint: &str,
    every: Duration,
) -> Result<(Agent, OtlpExporter), Box<dyn std::error::Error>> {
    let mut config = OtlpConfig::new(endpoint);
    config.interval = every;
    config.service_name = "otlp-example".into();
    let exporter = OtlpExporter::new(config)?;
    let mut agent =
        Agent::new(ServerId::new("this-host")?, every).with_exporter(Box::new(exporter.clone()));
    let paths = HostPaths::default();
    for name in BUILTIN.iter().filter(|n| **n != "docker") {
        agent = agent.with_collector(builtin(name, &paths)?);
    }
    Ok((agent, exporter))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4318".into());
    let (mut agent, _) = agent(&endpoint, Duration::from_secs(5))?;
    println!("sending to {endpoint} every 5 s; Ctrl-C to stop");
    let mut ticker = tokio::time::interval(agent.interval());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = ticker.tick() => { agent.tick().await; }
        }
    }
    agent.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::Exporter;
    use std::io::Read;
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use prost::Message;

    #[tokio::test]
    async fn the_collectors_reach_an_otlp_receiver() {
        let names: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&names);
        let app = axum::Router::new().route(
            "/v1/metrics",
            axum::routing::post(move |body: axum::body::Bytes| {
                let seen = Arc::clone(&seen);
                async move {
                    let mut raw = Vec::new();
                    let inflated =
                        flate2::read::GzDecoder::new(body.as_ref()).read_to_end(&mut raw);
                    assert!(inflated.is_ok());
                    let request = ExportMetricsServiceRequest::decode(raw.as_slice());
                    let request = request.unwrap_or_else(|e| panic!("{e}"));
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    for rm in request.resource_metrics {
                        for sm in rm.scope_metrics {
                            seen.extend(sm.metrics.into_iter().map(|m| m.name));
                        }
                    }
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        let (mut agent, exporter) =
            agent(&url, Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
        // CPU % is a difference between two reads.
        agent.collect().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let snapshot = agent.collect().await;
        exporter.flush().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(names.lock().unwrap_or_else(|e| e.into_inner()).is_empty());
        exporter
            .export(std::slice::from_ref(&snapshot))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        exporter.flush().await.unwrap_or_else(|e| panic!("{e}"));
        let names = names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(
            names.iter().any(|n| n == "system.memory.usage"),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n == "system.cpu.utilization"),
            "{names:?}"
        );
    }
}
