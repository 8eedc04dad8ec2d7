//! Unit tests of the server's configuration: files, the environment, checks and durations.

use super::*;

#[test]
fn shown_configuration_hides_webhook_credentials() {
    let config = ServerConfig::from_toml(
        "[[alerts.webhooks]]\nname = \"ops\"\nurl = \"https://h.example\"\nsecret = \"s3cret\"\nheaders = { authorization = \"Bearer t0k\" }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let shown = config.to_toml();
    assert!(
        !shown.contains("s3cret") && !shown.contains("t0k"),
        "{shown}"
    );
    assert!(shown.contains("authorization = \"<hidden>\""), "{shown}");
}

#[test]
fn shown_configuration_hides_database_and_otlp_passwords() {
    let config = ServerConfig::from_toml(
        "database_url = \"postgres://monitor:pa:ss@db.internal/monitor\"\n[otlp]\nendpoint = \"http://c:4318\"\nheaders = [\"api-key=k3y\"]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let shown = config.to_toml();
    assert!(
        !shown.contains("pa:ss") && !shown.contains("k3y"),
        "{shown}"
    );
    assert!(
        shown.contains("postgres://monitor:<hidden>@db.internal/monitor"),
        "{shown}"
    );
    assert!(shown.contains("api-key=<hidden>"), "{shown}");
    assert_eq!(
        hide_password("sqlite:///var/lib/m.db"),
        "sqlite:///var/lib/m.db"
    );
    assert_eq!(
        hide_password("postgres://monitor@db/m"),
        "postgres://monitor@db/m"
    );
}

#[test]
fn durations_read_back() {
    for (text, secs) in [
        ("30s", 30),
        ("15m", 900),
        ("12h", 43_200),
        ("7d", 604_800),
        ("90", 90),
    ] {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_secs(secs)),
            "{text}"
        );
    }
    assert_eq!(format_duration(Duration::from_secs(90 * 86_400)), "90d");
    assert_eq!(format_duration(Duration::from_secs(14 * 86_400)), "2w");
    assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    for bad in ["", "7 days", "d", "-1d", "1y"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_file_overrides_defaults_and_the_defaults_round_trip() {
    let c = ServerConfig::from_toml(
        "listen = \"127.0.0.1:9000\"\n[retention]\nraw = \"14d\"\n[limits]\ningest_burst = 10\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
    assert_eq!(c.retention.raw, Duration::from_secs(14 * 86_400));
    assert_eq!(c.retention.minute, Duration::from_secs(90 * 86_400));
    assert_eq!(c.limits.ingest_burst, 10);
    let all = ServerConfig::default().to_toml();
    assert_eq!(ServerConfig::from_toml(&all), Ok(ServerConfig::default()));
}

#[test]
fn mistakes_are_named() {
    let e = ServerConfig::from_toml("listen = \"0.0.0.0:1\"\nretension = 3\n").unwrap_err();
    assert!(e.contains("retension"), "{e}");
    let e = ServerConfig::from_toml("[retention]\nraw = \"7 days\"\n").unwrap_err();
    assert!(e.contains("7 days"), "{e}");
    let mut c = ServerConfig::default();
    let e = c
        .apply_env(|k| (k == "CACHE_MAX_ITEMS").then(|| "many".to_owned()))
        .unwrap_err();
    assert!(e.to_string().starts_with("CACHE_MAX_ITEMS"), "{e}");
    c.listen = SocketAddr::from(([0, 0, 0, 0], 8001));
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("--insecure-http"), "{e}");
    c.tls.self_signed = true;
    assert!(c.validate().is_ok());
    c.retention.minute = Duration::from_secs(3600);
    assert!(c.validate().is_err());
    let mut c = ServerConfig::default();
    c.tls.self_signed = true;
    for (bytes, ok) in [
        (0, false),
        (65_535, false),
        (65_536, true),
        (usize::MAX, true),
    ] {
        c.limits.ingest_bytes_in_flight = bytes;
        let result = c.validate();
        assert_eq!(result.is_ok(), ok, "{bytes}: {result:?}");
        if let Err(e) = result {
            assert!(
                e.to_string().contains("limits.ingest_bytes_in_flight"),
                "{e}"
            );
        }
    }
}

#[test]
fn the_environment_overrides_the_file() {
    let mut c = ServerConfig::from_toml("cache_max_items = 5\n").unwrap_or_else(|e| panic!("{e}"));
    c.apply_env(|k| match k {
        "CACHE_MAX_ITEMS" => Some("7".into()),
        "MONITOR_LISTEN" => Some("127.0.0.1:8001".into()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.cache_max_items, 7);
    assert_eq!(c.listen.port(), 8001);
}

#[test]
fn trusted_proxies_from_the_file_and_the_environment_and_a_wrong_one_named() {
    let mut c = ServerConfig::from_toml("trusted_proxies = [\"10.0.0.0/8\"]\n")
        .unwrap_or_else(|e| panic!("{e}"));
    c.tls.self_signed = true;
    assert!(c.validate().is_ok());
    assert_eq!(c.trusted_proxy_networks().map(|n| n.len()).ok(), Some(1));
    c.apply_env(|k| (k == "MONITOR_TRUSTED_PROXIES").then(|| "192.0.2.10, 2001:db8::/32".into()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.trusted_proxies, ["192.0.2.10", "2001:db8::/32"]);
    c.trusted_proxies.push("lb.example".into());
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("trusted_proxies") && e.contains("lb.example"),
        "{e}"
    );
}

#[test]
fn every_key_has_its_own_variable_and_each_reads_back_its_value() {
    let keys = env::keys();
    assert!(keys.len() > 50, "{keys:?}");
    let variables: std::collections::BTreeSet<String> =
        keys.iter().map(|k| env::variable(k)).collect();
    assert_eq!(variables.len(), keys.len(), "two keys share a variable");
    for (other, _) in ENVIRONMENT {
        assert!(!variables.contains(*other), "{other} is also a key's");
    }
    // Each variable given its key's value in the file's form (lists as
    // TOML arrays) gives back the same configuration.
    let mut full = ServerConfig {
        database_url: Some("postgres://db/monitor".into()),
        log_format: LogFormat::Json,
        ..ServerConfig::default()
    };
    full.tls.self_signed = true;
    full.tls.names = vec!["a.example".into(), "b.example".into()];
    full.otlp.endpoint = Some("http://127.0.0.1:4318".into());
    full.limits.ingest_per_token_per_second = 2.5;
    let table = toml::Table::try_from(&full).unwrap_or_default();
    let mut given = std::collections::BTreeMap::new();
    for key in &keys {
        let mut value = Some(toml::Value::Table(table.clone()));
        for part in key.split('.') {
            value = value.and_then(|v| v.get(part).cloned());
        }
        let Some(value) = value else { continue };
        let text = match value {
            toml::Value::String(s) => s,
            other => other.to_string(),
        };
        given.insert(env::variable(key), text);
    }
    assert!(given.len() > 40, "{}", given.len());
    let mut c = ServerConfig::default();
    c.apply_env(|name| given.get(name).cloned())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c, full);
}

#[test]
fn a_variable_of_the_wrong_type_is_named_and_an_empty_one_ignored() {
    for (name, text, expected) in [
        (
            "MONITOR_LIMITS_MAX_BODY_BYTES",
            "lots",
            "give a whole number",
        ),
        ("MONITOR_INSECURE_HTTP", "maybe", "give true or false"),
        ("MONITOR_LISTEN", "8443", "8443"),
        ("MONITOR_RETENTION_RAW", "a week", "a week"),
        (
            "MONITOR_ALERTS_WEBHOOKS",
            "https://h.example",
            "https://h.example",
        ),
        ("MONITOR_ALERTS_WEBHOOKS", "[{ url = ", "not a TOML array"),
        ("MONITOR_LOG_FORMAT", "xml", "xml"),
    ] {
        let mut c = ServerConfig::default();
        let e = c
            .apply_env(|k| (k == name).then(|| text.to_owned()))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(name) && e.contains(expected), "{name}: {e}");
        assert_eq!(c, ServerConfig::default(), "{name} left a change");
    }
    let mut c = ServerConfig::default();
    c.apply_env(|k| k.starts_with("MONITOR_").then(String::new))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c, ServerConfig::default());
}

#[test]
fn the_default_file_is_read_when_present_and_not_when_another_is_named() {
    let dir = std::env::temp_dir().join(format!("monitor-default-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let default = dir.join("server.toml");
    let flags = <Flags as clap::Parser>::parse_from(["monitor-server", "--insecure-http"]);
    let no_env = |_: &str| None;
    let c = flags
        .resolve_with_default(no_env, &default)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listen, ServerConfig::default().listen);
    std::fs::write(&default, "listen = \"127.0.0.1:8123\"\n").unwrap_or_else(|e| panic!("{e}"));
    let c = flags
        .resolve_with_default(no_env, &default)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listen.port(), 8123);
    let c = flags
        .resolve_with_default(|k| (k == "MONITOR_CONFIG").then(String::new), &default)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listen, ServerConfig::default().listen);
    let _ = std::fs::remove_dir_all(&dir);
}
