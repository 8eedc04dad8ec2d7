//! What a process that does not lead alert evaluation hands the leader
//! of a report it accepted, when no other process's dashboards want the
//! whole report: its head and the metric families the rules read, the
//! rest left out (the benchmark's 52-sample report keeps 14 samples with
//! the default rules: 928 bytes of JSON instead of 3,892). The evaluator reads nothing else of a report
//! ([`monitor_core::alert::Evaluator::on_snapshot`]: a rule looks up the
//! family of its metric), so the leader's transitions are the same as on
//! the whole report.
//!
//! The input carries a fingerprint of the metric names it was cut for.
//! Rules change through one process and the others reload them when the
//! database tells them (within milliseconds): an input cut for other rules
//! than the leader's may lack a family a rule now reads, which the
//! evaluator would take as the series gone (ending its alerts), so the
//! leader notes only that the host reported and leaves such an input's
//! values alone; the server then asks for whole reports for a while (a
//! process that missed the change, or runs another version, is evaluated
//! on everything meanwhile).

use std::collections::BTreeSet;

use monitor_core::model::WireVersion;
use monitor_core::{AlertRule, MetricFamily, ServerId, Snapshot, Timestamp};
use serde::{Deserialize, Serialize};

/// The metric families a set of rules reads, and their fingerprint: cuts
/// a report to what the leader evaluates, and reads such a cut back.
#[derive(Debug, Default)]
pub struct Reads {
    fingerprint: u64,
    metrics: BTreeSet<String>,
}

impl Reads {
    /// What `rules` read.
    pub fn of(rules: &[AlertRule]) -> Self {
        let metrics: BTreeSet<String> = rules.iter().map(|r| r.metric.clone()).collect();
        // FNV-1a over the sorted names, each ended by a NUL: the same in
        // every process and every build.
        let mut fingerprint: u64 = 0xcbf2_9ce4_8422_2325;
        for name in &metrics {
            for byte in name.bytes().chain(std::iter::once(0)) {
                fingerprint ^= u64::from(byte);
                fingerprint = fingerprint.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Reads {
            fingerprint,
            metrics,
        }
    }

    /// The input of `snapshot`, as JSON.
    pub fn cut(&self, snapshot: &Snapshot) -> String {
        let input = Out {
            reads: self.fingerprint,
            snapshot: Head {
                version: WireVersion,
                server_id: &snapshot.server_id,
                timestamp: snapshot.timestamp,
                interval_secs: snapshot.interval_secs,
                metrics: snapshot
                    .metrics
                    .iter()
                    .filter(|f| self.metrics.contains(&f.name))
                    .collect(),
            },
        };
        // Serializing these types into a String does not fail.
        serde_json::to_string(&input).unwrap_or_default()
    }

    /// An input read back: its report, and whether it was cut for these
    /// rules (`false`: only its head may be used).
    ///
    /// # Errors
    /// The JSON error when `text` is not an input.
    pub fn read(&self, text: &str) -> Result<(Snapshot, bool), serde_json::Error> {
        let input: In = serde_json::from_str(text)?;
        Ok((input.snapshot, input.reads == self.fingerprint))
    }
}

#[derive(Serialize)]
struct Out<'a> {
    reads: u64,
    snapshot: Head<'a>,
}

/// A report's JSON with only some of its families.
#[derive(Serialize)]
struct Head<'a> {
    version: WireVersion,
    server_id: &'a ServerId,
    timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval_secs: Option<f64>,
    metrics: Vec<&'a MetricFamily>,
}

#[derive(Deserialize)]
struct In {
    reads: u64,
    snapshot: Snapshot,
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::alert::Evaluator;
    use monitor_core::alert::ServerFacts;
    use monitor_core::{Collection, Labels, MetricKind, Sample, Unit};

    fn report(at: i64, cpu: f64, disk: f64) -> Snapshot {
        let family = |name: &str, value: f64| MetricFamily {
            samples: vec![Sample {
                labels: Labels::new(),
                value,
            }],
            ..MetricFamily::new(name, MetricKind::Gauge, Unit::PERCENT)
        };
        let mut collection = Collection::new();
        collection.families = vec![
            family("net_rx_bytes_per_second", 1.0),
            family("cpu_total_percent", cpu),
            family("load1", 0.5),
            family("disk_used_percent", disk),
        ];
        let mut snapshot = Snapshot::new(
            ServerId::new("in-01").unwrap_or_else(|e| panic!("{e}")),
            Timestamp::from_millis(at),
            collection,
        );
        snapshot.interval_secs = Some(5.0);
        snapshot
    }

    fn rules(json: &str) -> Vec<AlertRule> {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_leader_finds_the_same_transitions_in_the_input_as_in_the_report() {
        let rules = rules(
            r#"[{"id":"cpu","name":"CPU","metric":"cpu_total_percent","op":">","threshold":80},
                {"id":"disk","name":"Disk","metric":"disk_used_percent","op":">","threshold":90,"for_secs":10}]"#,
        );
        let reads = Reads::of(&rules);
        let id = ServerId::new("in-01").unwrap_or_else(|e| panic!("{e}"));
        let facts = ServerFacts::new(&id, &[]);
        let mut whole = Evaluator::default();
        let mut cut = Evaluator::default();
        for (i, (cpu, disk)) in [
            (10.0, 50.0),
            (95.0, 95.0),
            (95.0, 95.0),
            (95.0, 95.0),
            (5.0, 10.0),
        ]
        .into_iter()
        .enumerate()
        {
            let snapshot = report(1_000_000 + i as i64 * 5_000, cpu, disk);
            let text = reads.cut(&snapshot);
            let (input, current) = reads.read(&text).unwrap_or_else(|e| panic!("{e}"));
            assert!(current);
            assert_eq!(input.metrics.len(), 2, "{text}");
            assert_eq!(
                (
                    input.server_id.clone(),
                    input.timestamp,
                    input.interval_secs
                ),
                (
                    snapshot.server_id.clone(),
                    snapshot.timestamp,
                    snapshot.interval_secs
                )
            );
            let a = whole.on_snapshot(&rules, &facts, &snapshot);
            let b = cut.on_snapshot(&rules, &facts, &input);
            assert_eq!(a, b, "report {i}");
        }
        assert!(cut.active().count() == 0 && whole.take_changed().len() == 2);
    }

    #[test]
    fn an_input_cut_for_other_rules_is_told_apart() {
        let before = Reads::of(&rules(
            r#"[{"id":"cpu","name":"CPU","metric":"cpu_total_percent","op":">","threshold":80}]"#,
        ));
        let after = Reads::of(&rules(
            r#"[{"id":"cpu","name":"CPU","metric":"load1","op":">","threshold":80}]"#,
        ));
        let text = before.cut(&report(1_000, 1.0, 1.0));
        assert!(before.read(&text).is_ok_and(|(_, current)| current));
        assert!(after.read(&text).is_ok_and(|(_, current)| !current));
        // The order of the rules changes nothing.
        let two = r#"{"id":"a","name":"A","metric":"load1","op":">","threshold":1}"#;
        let three = r#"{"id":"b","name":"B","metric":"cpu_total_percent","op":">","threshold":1}"#;
        assert_eq!(
            Reads::of(&rules(&format!("[{two},{three}]"))).fingerprint,
            Reads::of(&rules(&format!("[{three},{two}]"))).fingerprint
        );
        assert!(before.read("{not json").is_err());
    }
}
