//! The dashboard's copy of the rules the server ships
//! (`web/src/lib/serverRules.json`: the three thresholds' rules and the
//! built-in ones) is what monitor-core makes, so the rules page can tell a
//! changed built-in rule from the original without drifting from the
//! server. `MONITOR_WRITE_FIXTURES=1 cargo test -p monitor-server --test
//! web_rules` writes it again after a change to the rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_core::Thresholds;
use monitor_core::alert::builtin_rules;
use serde_json::{Value, json};

#[test]
fn the_dashboards_copy_of_the_shipped_rules_is_current() {
    let expected = json!({
        "thresholds": Thresholds::default().to_rules(),
        "builtin": builtin_rules(),
    });
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/web/src/lib/serverRules.json");
    if std::env::var_os("MONITOR_WRITE_FIXTURES").is_some() {
        let text = serde_json::to_string_pretty(&expected).unwrap() + "\n";
        std::fs::write(path, text).unwrap();
    }
    let found: Value = serde_json::from_str(&std::fs::read_to_string(path).expect(path))
        .expect("serverRules.json is JSON");
    assert_eq!(
        found, expected,
        "{path} is out of date: run MONITOR_WRITE_FIXTURES=1 cargo test -p monitor-server --test web_rules"
    );
}
