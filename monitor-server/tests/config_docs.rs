//! docs/configuration.md lists exactly the server's keys, variables and
//! flags, and its example parses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use clap::CommandFactory;
use monitor_server::config::{ENVIRONMENT, Flags, ServerConfig};

fn doc() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/configuration.md"
    ))
    .unwrap()
}

/// The first cell of each table row of the section starting at `heading`.
fn first_cells(doc: &str, heading: &str) -> BTreeSet<String> {
    let section = doc.split(heading).nth(1).unwrap();
    let section = section.split("\n### ").next().unwrap();
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| l.split('`').next().unwrap().to_owned())
        .collect()
}

#[test]
fn every_key_is_documented_and_every_documented_key_exists() {
    let code: BTreeSet<String> = monitor_server::config::env::keys().into_iter().collect();
    let documented = first_cells(&doc(), "### Keys of the file");
    assert_eq!(documented, code);
}

#[test]
fn every_variable_is_documented_and_every_documented_one_is_read() {
    let code: BTreeSet<String> = ENVIRONMENT.iter().map(|(v, _)| v.to_string()).collect();
    let documented = first_cells(&doc(), "### Environment variables");
    assert_eq!(documented, code);
}

#[test]
fn every_flag_is_documented_and_every_documented_one_exists() {
    let command = Flags::command();
    let mut code: BTreeSet<String> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect();
    code.insert("--help".into());
    code.insert("--version".into());
    let documented: BTreeSet<String> = first_cells(&doc(), "### Flags")
        .into_iter()
        .map(|cell| cell.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(documented, code);
}

#[test]
fn the_example_parses() {
    let doc = doc();
    let example = doc
        .split("```toml\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let config = ServerConfig::from_toml(example).unwrap();
    assert_eq!(config.retention.raw.as_secs(), 14 * 86_400);
    assert_eq!(config.alerts.webhooks.len(), 2);
    assert_eq!(
        config.alerts.webhooks[1].format,
        monitor_server::webhook::WebhookFormat::Ntfy
    );
    config.validate().unwrap();
}
