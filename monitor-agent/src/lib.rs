//! # monitor-agent
//!
//! The agent: it runs [`Collector`](monitor_core::Collector)s every
//! interval, turns their results into [`Snapshot`](monitor_core::Snapshot)s
//! and pushes them to a monitor server, keeping what the server has not
//! acknowledged in a spool on disk. The `monitor-agent` binary (feature
//! `cli`, on by default) is a thin command line over [`Agent`] (from
//! `monitor-collectors`), [`push`] and [`export`] (the exporters of
//! `monitor-collectors`, and the agent's own `/metrics` endpoint); your own
//! program can use them the same way, with default features off so that
//! it does not pay for the binary's command line.
//!
//! # Example
//! ```no_run
//! use monitor_agent::Agent;
//! use monitor_collectors::{HostPaths, MemoryCollector};
//! use monitor_core::ServerId;
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut agent = Agent::new(ServerId::new("srv-01")?, Duration::from_secs(5))
//!     .with_collector(Box::new(MemoryCollector::new(HostPaths::default())));
//! let snapshot = agent.collect().await;
//! println!("{}", serde_json::to_string(&snapshot)?);
//! # Ok(())
//! # }
//! ```

pub mod export;
pub mod push;

pub use monitor_collectors::agent::{Agent, AgentBuilder, AgentError};
