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

fn once(args: &[&str]) -> Cli {
    let mut all = vec!["monitor-agent", "--once"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(feature = "probe")]
#[test]
fn probes_from_flags_and_from_the_file() {
    let settings = once(&[
        "--probe",
        "https://example.com/health",
        "--probe",
        "tcp://db:5432",
    ])
    .settings()
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<_> = settings.probes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["https://example.com/health", "tcp://db:5432"]);

    let file: AgentFile = toml::from_str(
        r#"
[[probe]]
name = "shop"
target = "https://shop.example/"
interval = 60
timeout = 5
expect_status = [200, 301]

[[probe]]
target = "tcp://127.0.0.1:22"
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut cli = once(&[]);
    cli.apply(file, |_| false);
    let settings = cli.settings().unwrap_or_else(|e| panic!("{e}"));
    let shop = &settings.probes[0];
    assert_eq!(shop.name, "shop");
    assert_eq!(shop.interval, Duration::from_secs(60));
    assert_eq!(shop.timeout, Duration::from_secs(5));
    assert_eq!(shop.expect_status, [200, 301]);
    assert_eq!(settings.probes[1].name, "tcp://127.0.0.1:22");
    assert_eq!(
        settings.probes[1].interval,
        monitor_collectors::DEFAULT_PROBE_INTERVAL
    );

    // A flag replaces the file's probes.
    let file: AgentFile =
        toml::from_str("[[probe]]\ntarget = \"tcp://a:1\"\n").unwrap_or_else(|e| panic!("{e}"));
    let mut cli = once(&["--probe", "tcp://b:2"]);
    cli.apply(file, |id| id == "probe");
    let settings = cli.settings().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.probes.len(), 1);
    assert_eq!(settings.probes[0].name, "tcp://b:2");
}

#[cfg(feature = "probe")]
#[test]
fn bad_probes_are_named_with_what_to_fix() {
    let problems = |args: &[&str], file: &str| {
        let mut cli = once(args);
        let file: AgentFile = toml::from_str(file).unwrap_or_else(|e| panic!("{e}"));
        cli.apply(file, |_| false);
        cli.settings().map(|_| ()).unwrap_err().to_string()
    };
    let e = problems(&["--probe", "example.com"], "");
    assert!(
        e.contains("--probe \"example.com\": a probe target is an http://"),
        "{e}"
    );
    let e = problems(&["--probe", "tcp://db"], "");
    assert!(e.contains("tcp://host:port"), "{e}");
    let e = problems(&["--probe", "tcp://a:1", "--probe", "tcp://a:1"], "");
    assert!(e.contains("two probes are named \"tcp://a:1\""), "{e}");
    let e = problems(&[], "[[probe]]\ntarget = \"https://a/\"\ninterval = 0\n");
    assert!(
        e.contains("[[probe]] 1 (\"https://a/\"): interval 0 is out of range"),
        "{e}"
    );
    let e = problems(&[], "[[probe]]\ntarget = \"https://a/\"\ntimeout = -1\n");
    assert!(e.contains("timeout -1 is out of range"), "{e}");
    let e = problems(
        &[],
        "[[probe]]\ntarget = \"tcp://a:1\"\nexpect_status = [200]\n",
    );
    assert!(e.contains("expect_status is for http://"), "{e}");
    let e = problems(
        &[],
        "[[probe]]\ntarget = \"https://a/\"\nca_file = \"/nonexistent/ca.pem\"\n",
    );
    assert!(e.contains("ca_file /nonexistent/ca.pem"), "{e}");
    let long = format!("https://a/{}", "x".repeat(300));
    let e = problems(&["--probe", &long], "");
    assert!(e.contains("give a shorter `name`"), "{e}");
    // An unknown key, a missing target and a wrong type are the file's errors.
    for (text, says) in [
        (
            "[[probe]]\ntarget = \"tcp://a:1\"\nurl = \"x\"\n",
            "unknown field `url`",
        ),
        ("[[probe]]\nname = \"x\"\n", "missing field `target`"),
        (
            "[[probe]]\ntarget = \"tcp://a:1\"\nexpect_status = [\"200\"]\n",
            "invalid type",
        ),
        (
            "[[probe]]\ntarget = \"https://a/\"\nexpect_status = [70000]\n",
            "u16",
        ),
    ] {
        let e = toml::from_str::<AgentFile>(text).unwrap_err().to_string();
        assert!(e.contains(says), "{text}: {e}");
    }
}

#[test]
fn the_packaged_file_reads_with_its_examples_uncommented() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/debian/agent.toml"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|rest| rest.contains(" = ") || rest.starts_with("[["))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let file: AgentFile = toml::from_str(&uncommented).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.probe.map(|p| p.len()), Some(2));
}
