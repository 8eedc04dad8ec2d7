//! Unit tests of the agent's command line.

use super::*;
use clap::CommandFactory;

#[test]
fn the_file_fills_what_flags_and_variables_leave_unset() {
    let mut cli =
        Cli::try_parse_from(["monitor-agent", "--interval", "2"]).unwrap_or_else(|e| panic!("{e}"));
    let file: AgentFile = toml::from_str(
        "server = \"https://monitor.example:8443\"\ninterval = 10\nspool_max_mib = 8\nlog_format = \"json\"\ncollectors = [\"memory\", \"cpu\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    cli.apply(file, |id| id == "interval");
    assert_eq!(cli.server, ["https://monitor.example:8443"]);
    assert_eq!(cli.interval, 2.0, "the flag wins");
    assert_eq!(cli.spool_max_mib, 8);
    assert_eq!(cli.log_format, LogFormat::Json);
    assert_eq!(cli.collectors, ["memory", "cpu"]);
    let e = toml::from_str::<AgentFile>("token = \"secret\"\n").unwrap_err();
    assert!(e.to_string().contains("token"), "{e}");
}

#[test]
fn plain_http_is_for_this_machine_only_ipv6_included() {
    for (url, ok) in [
        ("http://[::1]", true),
        ("http://[::1]:8001/", true),
        ("http://127.0.0.1:8001", true),
        ("http://localhost", true),
        ("http://monitor.example:8001", false),
        ("http://[2001:db8::1]:8001", false),
        // The host is after the '@': the token would go to evil.example.
        ("http://127.0.0.1:1@evil.example/", false),
        ("http://localhost@evil.example:8001", false),
        ("http://[::ffff:127.0.0.1]:8001", true),
    ] {
        let cli = Cli::try_parse_from([
            "monitor-agent",
            "--server",
            url,
            "--server-id",
            "x",
            "--token",
            "t0ken",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let result = cli.settings().map(|_| ());
        assert_eq!(result.is_ok(), ok, "{url}: {result:?}");
    }
}

#[test]
fn docs_list_every_flag_and_file_key() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/configuration.md"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let section = doc
        .split("## monitor-agent")
        .nth(1)
        .unwrap_or_else(|| panic!("no agent section"));
    for arg in Cli::command().get_arguments() {
        if let Some(long) = arg.get_long() {
            assert!(
                section.contains(&format!("`--{long}")),
                "--{long} is not documented"
            );
            let key = long.replace('-', "_");
            let in_file = ![
                "config",
                "token",
                "once",
                "stdout",
                "pretty",
                "completions",
                "man",
            ]
            .contains(&key.as_str());
            if in_file {
                assert!(
                    section.contains(&format!("`{key}`")),
                    "file key {key} is not documented"
                );
            }
        }
    }
}
