//! Run with: `cargo run -p example-custom-collector`
//!
//! A collector of your own: the host's TCP connections by state, read from
//! `/proc/net/tcp` and `/proc/net/tcp6`, as `tcp_connections{state="..."}`;
//! run in an agent of your own beside a built-in collector, printing three
//! snapshots. To send them to a monitor server, hand the agent to
//! `monitor_agent::push::run`; to serve them to Prometheus, add a
//! `PrometheusExporter` (see example-prometheus-axum).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use monitor_agent::Agent;
use monitor_core::{CollectContext, CollectError, Collection, Collector, Labels, ServerId, Unit};

/// TCP connections by state.
pub struct TcpStates {
    proc: String,
}

/// The kernel's state numbers (include/net/tcp_states.h).
const STATES: [&str; 12] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
    "new_syn_recv",
];

impl TcpStates {
    /// Reads `<proc>/net/tcp` and `tcp6`.
    pub fn new(proc: impl Into<String>) -> Self {
        TcpStates { proc: proc.into() }
    }
}

#[async_trait]
impl Collector for TcpStates {
    fn name(&self) -> &str {
        "tcp-states"
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        let mut counts: BTreeMap<&str, u64> = STATES.iter().map(|s| (*s, 0)).collect();
        for file in ["net/tcp", "net/tcp6"] {
            let path = format!("{}/{file}", self.proc);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                // No IPv6 on this host: tcp6 is absent.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && file == "net/tcp6" => {
                    continue;
                }
                Err(source) => return Err(CollectError::Io { path, source }),
            };
            for line in text.lines().skip(1) {
                // sl local_address rem_address st ...
                let state = line
                    .split_whitespace()
                    .nth(3)
                    .ok_or_else(|| CollectError::Parse {
                        path: path.clone(),
                        reason: format!("no state column in {line:?}"),
                    })?;
                let n = u8::from_str_radix(state, 16).map_err(|_| CollectError::Parse {
                    path: path.clone(),
                    reason: format!("state {state:?} is not hexadecimal"),
                })?;
                if let Some(name) = STATES.get(usize::from(n).wrapping_sub(1)) {
                    *counts.entry(name).or_default() += 1;
                }
            }
        }
        let mut out = Collection::new();
        for (state, n) in counts {
            out.gauge(
                "tcp_connections",
                Unit::COUNT,
                Labels::new().with("state", state),
                n as f64,
            );
        }
        Ok(out)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut agent = Agent::builder()
        .with_server_id(ServerId::new("this-host")?)
        .with_interval(Duration::from_secs(1))
        .with_builtin_collectors(&["memory"])
        .with_collector(Box::new(TcpStates::new("/proc")))
        .build()?;
    for _ in 0..3 {
        let snapshot = agent.tick().await;
        let tcp = snapshot.family("tcp_connections").map(|f| {
            f.samples
                .iter()
                .filter(|s| s.value > 0.0)
                .map(|s| format!("{}={}", s.labels.get("state").unwrap_or("?"), s.value))
                .collect::<Vec<_>>()
                .join(" ")
        });
        println!("tcp: {}", tcp.unwrap_or_default());
        tokio::time::sleep(agent.interval()).await;
    }
    agent.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn it_conforms_and_sees_a_listening_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let mut collector = TcpStates::new("/proc");
        monitor_core::testing::collector::conformance(&mut collector).await;
        let ctx = CollectContext::new(monitor_core::Timestamp::now(), Duration::from_secs(1));
        let c = collector
            .collect(&ctx)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let listening = c.families[0].get(&Labels::new().with("state", "listen"));
        assert!(listening.is_some_and(|n| n >= 1.0), "{c:?}");
        drop(listener);
    }

    #[tokio::test]
    async fn a_missing_proc_says_which_file() {
        let error = TcpStates::new("/nonexistent")
            .collect(&CollectContext::new(
                monitor_core::Timestamp::now(),
                Duration::from_secs(1),
            ))
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/net/tcp"), "{error}");
    }
}
