//! Properties of the agent→server wire format that must hold for any input
//! a client can send: `wire::decode` answers every byte string with either
//! snapshots that pass `wire::validate` or a `WireError` (which the server
//! answers with a 4xx), never a panic; what it accepts reads back the same
//! after encoding; and a refusal names a field or a position.
//!
//! The cost side (linear in the input) is measured by
//! `cargo bench -p monitor-core --bench wire` and recorded in
//! docs/security.md; `wire/tests.rs` hold the label-bomb case.

use monitor_core::wire::{self, Limits, WireError};
use monitor_core::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit};
use proptest::prelude::*;
use serde_json::Value;

/// Whatever `decode` answers, the answer is sound.
fn check_answer(body: &[u8], limits: &Limits) {
    match wire::decode(body, limits) {
        // An empty batch is a no-op, accepted.
        Ok(snapshots) => {
            assert!(snapshots.len() <= limits.max_snapshots_per_batch);
            for s in &snapshots {
                if let Err(e) = wire::validate(s, limits) {
                    panic!("decode accepted an invalid snapshot: {e}");
                }
            }
            let again = wire::encode_batch(&snapshots).expect("encodes");
            let back = wire::decode(&again, limits).expect("what was accepted reads back");
            assert_eq!(back, snapshots);
        }
        Err(WireError::Json(message)) => assert!(!message.is_empty()),
        Err(WireError::Invalid { field, problem }) => {
            assert!(!field.is_empty() && !problem.is_empty());
        }
        Err(WireError::TooMany { count, limit, .. }) => assert!(count > limit),
    }
}

/// Any JSON value, up to a few levels deep, with the keys the format uses
/// mixed in so that generated objects often look like snapshots.
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("version".to_owned()),
        Just("server_id".to_owned()),
        Just("timestamp".to_owned()),
        Just("metrics".to_owned()),
        Just("snapshots".to_owned()),
        Just("name".to_owned()),
        Just("samples".to_owned()),
        Just("labels".to_owned()),
        Just("value".to_owned()),
        Just("kind".to_owned()),
        Just("unit".to_owned()),
        Just("host".to_owned()),
        Just("hostname".to_owned()),
        Just("containers".to_owned()),
        Just("interval_secs".to_owned()),
        "\\PC{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::from(1)),
        Just(Value::from("srv-01")),
        Just(Value::from("gauge")),
        Just(Value::from("2026-12-06T10:00:00Z")),
        "\\PC{0,20}".prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid snapshot with generated names, labels and values.
fn snapshot() -> impl Strategy<Value = Snapshot> {
    let sample = (
        prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", "\\PC{0,10}", 0..5),
        -1e12f64..1e12,
    );
    let family = ("[a-z_][a-z0-9_]{0,10}", prop::collection::vec(sample, 1..6));
    (
        "[a-z0-9][a-z0-9._-]{0,10}",
        0i64..4_000_000_000_000,
        prop::collection::vec(family, 0..6),
    )
        .prop_map(|(id, ms, families)| {
            let mut c = Collection::new();
            for (name, samples) in families {
                for (labels, value) in samples {
                    c.gauge(&name, Unit::NONE, Labels::from_pairs(labels), value);
                }
            }
            // What an agent does before sending: leave out what the
            // server would refuse (a generated series may repeat).
            wire::clean(&mut c, &Limits::default());
            Snapshot::new(
                ServerId::new(id).expect("generated ids are valid"),
                Timestamp::from_millis(ms),
                c,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_get_snapshots_or_an_error(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_answer(&body, &Limits::default());
    }

    #[test]
    fn any_json_value_gets_snapshots_or_an_error(value in json()) {
        let body = serde_json::to_vec(&value).expect("a value serializes");
        check_answer(&body, &Limits::default());
        check_answer(&body, &Limits { max_labels_per_sample: 1, max_samples_per_snapshot: 2, ..Limits::default() });
    }

    #[test]
    fn valid_snapshots_round_trip(snapshots in prop::collection::vec(snapshot(), 1..4)) {
        let limits = Limits::default();
        let one = wire::encode(&snapshots[0]).expect("encodes");
        prop_assert_eq!(&wire::decode(&one, &limits).expect("valid"), &snapshots[..1]);
        let batch = wire::encode_batch(&snapshots).expect("encodes");
        prop_assert_eq!(wire::decode(&batch, &limits).expect("valid"), snapshots);
    }

    #[test]
    fn damaged_snapshots_get_snapshots_or_an_error(
        s in snapshot(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut body = wire::encode(&s).expect("encodes");
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        check_answer(&body, &Limits::default());
        body.truncate(cut.index(body.len() + 1));
        check_answer(&body, &Limits::default());
    }
}
