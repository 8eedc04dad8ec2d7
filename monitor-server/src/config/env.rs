//! Every key of the file from the environment, by one rule: `MONITOR_` and
//! the key in capitals, its dots as underscores (`limits.max_body_bytes` is
//! `MONITOR_LIMITS_MAX_BODY_BYTES`).
//!
//! A value is read as the key's type: text as it is, numbers and `true` or
//! `false` parsed, lists comma-separated (`a.example,b.example`) or a TOML
//! array (`[{ name = "ops", url = "https://h.example" }]` for the webhooks).
//! An empty variable counts as unset, as an unset `${VAR}` of a compose file
//! or an `X=` line of a systemd environment file gives one.

use super::{ConfigError, ServerConfig, invalid};

/// The prefix of every variable of the rule.
pub const PREFIX: &str = "MONITOR_";

/// The variable that sets the dotted `key`.
pub fn variable(key: &str) -> String {
    let mut name = String::from(PREFIX);
    name.extend(key.chars().map(|c| match c {
        '.' | '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    name
}

/// Every key of the file, dotted (`tls.cert`), in the file's order.
pub fn keys() -> Vec<String> {
    let mut out = Vec::new();
    leaves("", &template(), &mut |key, _| out.push(key.to_owned()));
    out
}

/// A configuration with every optional key set, serialized: the keys and
/// the type of each value.
fn template() -> toml::Table {
    let mut c = ServerConfig {
        database_url: Some(String::new()),
        ..ServerConfig::default()
    };
    c.tls.cert = Some("".into());
    c.tls.key = Some("".into());
    c.tokens.dashboard_token_file = Some("".into());
    c.tokens.admin_token_file = Some("".into());
    c.tokens.read_token_file = Some("".into());
    c.otlp.endpoint = Some(String::new());
    c.otlp.verify = Some("".into());
    c.remote_write.url = Some(String::new());
    c.remote_write.verify = Some("".into());
    toml::Table::try_from(&c).unwrap_or_default()
}

fn leaves(prefix: &str, table: &toml::Table, visit: &mut dyn FnMut(&str, &toml::Value)) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => leaves(&key, inner, visit),
            value => visit(&key, value),
        }
    }
}

/// `config` with every variable of the rule that `get` knows applied.
///
/// # Errors
/// [`ConfigError::Invalid`] naming the variable and what to give.
pub(super) fn apply(
    config: &ServerConfig,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<ServerConfig, ConfigError> {
    let mut table = toml::Table::try_from(config)
        .map_err(|e| invalid("(environment)", format!("cannot apply: {e}")))?;
    let mut result: Result<(), ConfigError> = Ok(());
    leaves("", &template(), &mut |key, kind| {
        if result.is_err() {
            return;
        }
        let name = variable(key);
        let Some(text) = get(&name).filter(|t| !t.trim().is_empty()) else {
            return;
        };
        result = value(&text, kind)
            .map_err(|problem| invalid(&name, format!("{text:?}: {problem}")))
            .and_then(|value| {
                set(&mut table, key, value);
                // Checked one variable at a time, so an error names it.
                ServerConfig::try_from_table(table.clone())
                    .map(drop)
                    .map_err(|e| invalid(&name, format!("{text:?}: {e}")))
            });
    });
    result?;
    ServerConfig::try_from_table(table).map_err(|e| invalid("(environment)", e))
}

/// The text of a variable as a value of the type of `kind`.
fn value(text: &str, kind: &toml::Value) -> Result<toml::Value, String> {
    let text = text.trim();
    Ok(match kind {
        toml::Value::Integer(_) => {
            toml::Value::Integer(text.parse().map_err(|_| "give a whole number".to_owned())?)
        }
        toml::Value::Float(_) => toml::Value::Float(
            text.parse()
                .map_err(|_| "give a number, such as 10 or 2.5".to_owned())?,
        ),
        toml::Value::Boolean(_) => toml::Value::Boolean(match text {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err("give true or false".into()),
        }),
        toml::Value::Array(_) if text.starts_with('[') => {
            let mut parsed: toml::Table = toml::from_str(&format!("v = {text}"))
                .map_err(|e| format!("not a TOML array: {e}"))?;
            parsed.remove("v").unwrap_or(toml::Value::Array(Vec::new()))
        }
        toml::Value::Array(_) => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(text.to_owned()),
    })
}

/// Sets the dotted `key` of `table`, making the tables on the way.
fn set(table: &mut toml::Table, key: &str, value: toml::Value) {
    match key.split_once('.') {
        Some((head, rest)) => {
            let inner = table
                .entry(head)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = inner {
                set(inner, rest, value);
            }
        }
        None => {
            table.insert(key.to_owned(), value);
        }
    }
}
