//! What sharing a report with the other server processes costs, step by
//! step, on the benchmark's 52-sample report (`monitor_core::testing::report`),
//! in batches of 256 as the bus sends them: the sending process makes the
//! report's live-stream text and frames the batch (deflate, base64); every
//! other process unframes it; the leader parses each report to evaluate the
//! rules, a follower reads only its head. Then the same for what a follower
//! sends when no other process's dashboards are watched: only what the
//! leader evaluates (`monitor_server::alerts::Reads`, for the default rules),
//! and nothing from the leader.
//!
//! Run with: `cargo bench -p monitor-server --features postgres --bench bus`
//!
//! Each step is timed over `BENCH_REPORTS` reports (20,000), one thread,
//! after a warm-up round; the figures are microseconds a report, to set
//! against a process's whole cost of a report (0.16–0.19 ms of CPU, the
//! `processes` benchmark with one process held to half a core).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use monitor_core::testing::{Rng, report};
use monitor_core::{ServerId, Snapshot, Timestamp};
use monitor_server::alerts::{Reads, effective_rules};
use monitor_store::bus::{frame, unframe};

mod common;

/// What a follower reads of another process's report (the shape of
/// `ReportHead` in `monitor-server/src/server.rs`).
#[derive(serde::Deserialize)]
struct Head {
    #[serde(rename = "server_id")]
    _server_id: ServerId,
    #[serde(rename = "timestamp")]
    _timestamp: Timestamp,
    #[serde(default, rename = "interval_secs")]
    _interval_secs: Option<f64>,
}

/// Microseconds a report that `step` takes over `reports`.
fn time<T>(reports: usize, step: impl FnOnce() -> T) -> (f64, T) {
    let started = Instant::now();
    let out = step();
    (started.elapsed().as_secs_f64() * 1e6 / reports as f64, out)
}

fn main() {
    let reports = common::env("BENCH_REPORTS", 20_000);
    let mut rng = Rng(42);
    let snapshots: Vec<Snapshot> = (0..reports)
        .map(|i| {
            report(
                &format!("host-{:05}", i % 10_000),
                1_700_000_000_000 + i as i64 * 5,
                i as i64,
                &mut rng,
            )
        })
        .collect();
    for round in ["warm-up", "measured"] {
        let (text, texts) = time(reports, || {
            snapshots
                .iter()
                .map(|s| ("snapshot".to_owned(), serde_json::to_string(s).unwrap()))
                .collect::<Vec<_>>()
        });
        let (framing, frames) = time(reports, || texts.chunks(256).map(frame).collect::<Vec<_>>());
        let (unframing, events) = time(reports, || {
            frames
                .iter()
                .flat_map(|f| unframe(f).unwrap())
                .collect::<Vec<_>>()
        });
        let (parse, parsed) = time(reports, || {
            let mut samples = 0;
            for (_, text) in &events {
                samples += std::hint::black_box(serde_json::from_str::<Snapshot>(text).unwrap())
                    .sample_count();
            }
            samples
        });
        let (head, heads) = time(reports, || {
            let mut heads = 0;
            for (_, text) in &events {
                std::hint::black_box(serde_json::from_str::<Head>(text).unwrap());
                heads += 1;
            }
            heads
        });
        let samples: usize = snapshots.iter().map(Snapshot::sample_count).sum();
        assert_eq!((parsed, heads), (samples, reports));
        if round == "warm-up" {
            continue;
        }
        let raw: usize = texts.iter().map(|(_, t)| t.len()).sum();
        let framed: usize = frames.iter().map(String::len).sum();
        println!(
            "{reports} reports of {} bytes of JSON each, in frames of 256: {} bytes a report on the bus",
            raw / reports,
            framed / reports
        );
        println!(
            "sender:   live-stream text (serde_json) {text:.1} us, frame (deflate, base64) {framing:.1} us"
        );
        println!("receiver: unframe (base64, inflate) {unframing:.1} us");
        println!(
            "leader:   parse the whole report {parse:.1} us; follower: read its head {head:.1} us"
        );
        println!(
            "with two processes, a report costs the pair about {:.1} us more than one process alone: its text and frame where it arrived, its unframing by the other, and a parse by the leader for half of the reports, a head for the other half",
            text + framing + unframing + (parse + head) / 2.0
        );
    }

    // No dashboard watched elsewhere: a follower sends the leader what
    // it evaluates; the leader sends nothing.
    let reads = Reads::of(&effective_rules(
        &monitor_core::Thresholds::default(),
        Vec::new(),
    ));
    for round in ["warm-up", "measured"] {
        let (cut, inputs) = time(reports, || {
            snapshots
                .iter()
                .map(|s| ("input".to_owned(), reads.cut(s)))
                .collect::<Vec<_>>()
        });
        let (framing, frames) = time(reports, || {
            inputs.chunks(256).map(frame).collect::<Vec<_>>()
        });
        let (unframing, events) = time(reports, || {
            frames
                .iter()
                .flat_map(|f| unframe(f).unwrap())
                .collect::<Vec<_>>()
        });
        let (read, kept) = time(reports, || {
            let mut samples = 0;
            for (_, text) in &events {
                let (snapshot, current) = reads.read(text).unwrap();
                assert!(current);
                samples += std::hint::black_box(snapshot).sample_count();
            }
            samples
        });
        if round == "warm-up" {
            continue;
        }
        let raw: usize = inputs.iter().map(|(_, t)| t.len()).sum();
        let framed: usize = frames.iter().map(String::len).sum();
        let samples: usize = snapshots.iter().map(Snapshot::sample_count).sum();
        println!(
            "no dashboard watched elsewhere: a follower's report cut to what the default rules read: {} of {} samples, {} bytes of JSON, {} bytes on the bus",
            kept / reports,
            samples / reports,
            raw / reports,
            framed / reports
        );
        println!(
            "follower: cut {cut:.1} us, frame {framing:.1} us; leader: unframe {unframing:.1} us, read {read:.1} us"
        );
        println!(
            "with two processes, a report costs the pair about {:.1} us more than one process alone (half of the reports arrive at the follower; the leader's cross nothing)",
            (cut + framing + unframing + read) / 2.0
        );
    }
}
