//! What decoding costs per byte, for bodies an agent sends and for bodies
//! an attacker would: `wire::decode` next to the floor of reading the same
//! JSON without building anything (serde's `IgnoredAny`).
//!
//! Run with: `cargo bench -p monitor-core --bench wire`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use monitor_core::testing::{Rng, report};
use monitor_core::wire::{self, Limits};

/// Nanoseconds per byte of `f` over `body`, the best of a few rounds.
fn per_byte(body: &[u8], f: impl Fn(&[u8])) -> f64 {
    let rounds = (20_000_000 / body.len().max(1)).clamp(3, 2000);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..rounds {
            f(body);
        }
        let ns = started.elapsed().as_nanos() as f64 / rounds as f64 / body.len() as f64;
        best = best.min(ns);
    }
    best
}

fn label_bomb(n: usize, descending: bool) -> Vec<u8> {
    let mut body = String::from(
        r#"{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"x","samples":[{"value":1,"labels":{"#,
    );
    for k in 0..n {
        let i = if descending { n - 1 - k } else { k };
        if k > 0 {
            body.push(',');
        }
        body.push_str(&format!("\"l{i:07}\":\"v\""));
    }
    body.push_str("}}]}]}");
    body.into_bytes()
}

fn samples(size: usize, end: &str) -> Vec<u8> {
    let mut body = String::from(
        r#"{"version":1,"server_id":"a","timestamp":1,"metrics":[{"name":"x","samples":["#,
    );
    let mut i = 0;
    while body.len() < size {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(r#"{{"labels":{{"k":"{i}"}},"value":{i}}}"#));
        i += 1;
    }
    body.push_str(end);
    body.into_bytes()
}

fn main() {
    let limits = Limits::default();
    let agent = wire::encode(&report("srv-01", 1_795_000_000_000, 0, &mut Rng(1))).unwrap();
    let batch = {
        let mut rng = Rng(2);
        let snapshots: Vec<_> = (0..100)
            .map(|i| report("srv-01", 1_795_000_000_000 + i * 5000, i, &mut rng))
            .collect();
        wire::encode_batch(&snapshots).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an agent's report (52 samples)", agent),
        ("an agent's replay batch (100 reports)", batch),
        (
            "label bomb, 250,000 labels descending",
            label_bomb(250_000, true),
        ),
        (
            "label bomb, 250,000 labels ascending",
            label_bomb(250_000, false),
        ),
        (
            "4 MB of samples broken at the end",
            samples(4_000_000, "]}],#"),
        ),
        (
            "4 MB of samples, a type error at the end",
            samples(4_000_000, r#",{"value":"x"}]}]}"#),
        ),
        (
            "4 MB of samples, too many for one snapshot",
            samples(4_000_000, "]}]}"),
        ),
        ("100,000 nested arrays", "[".repeat(100_000).into_bytes()),
    ];
    println!(
        "{:<45} {:>10} {:>12} {:>12} {:>8}",
        "body", "bytes", "decode ns/B", "floor ns/B", "ratio"
    );
    for (name, body) in cases {
        let decode = per_byte(&body, |b| {
            let _ = std::hint::black_box(wire::decode(b, &limits));
        });
        let floor = per_byte(&body, |b| {
            let _ = std::hint::black_box(serde_json::from_slice::<serde::de::IgnoredAny>(b));
        });
        let outcome = match wire::decode(&body, &limits) {
            Ok(s) => format!("{} snapshot(s)", s.len()),
            Err(e) => {
                let e = e.to_string();
                e.chars().take(40).collect()
            }
        };
        println!(
            "{name:<45} {:>10} {decode:>12.2} {floor:>12.2} {:>8.2}  {outcome}",
            body.len(),
            decode / floor
        );
    }
}
