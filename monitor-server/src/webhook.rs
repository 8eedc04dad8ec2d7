//! The webhook notifier: one HTTP POST per notification, signed.
//!
//! # Body
//! With [`WebhookFormat::Json`] (the default) the body is the
//! [`Notification`] as JSON: `{"event": {rule_id, rule_name, server_id,
//! metric, labels, from, state, value, threshold, severity, at, message},
//! "server_name", "dashboard_url", "repeat"}`. The other formats are the
//! bodies Slack (`{"text"}`), Discord (`{"content"}`) and ntfy (plain text
//! with `Title`, `Priority` and `Tags` headers) accept as they are.
//!
//! # Signature
//! With a secret, every request carries `X-Monitor-Timestamp` (Unix seconds
//! when it was sent) and
//! `X-Monitor-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>`.
//! A receiver computes the HMAC of the timestamp header, a dot and the raw
//! body it got, compares it in constant time with the header, and refuses
//! old timestamps: the timestamp is signed, so a replay cannot freshen it.
//!
//! # Outbound safety
//! Before each delivery the host is resolved and every address checked: a
//! loopback, private, link-local (cloud metadata), shared, unspecified,
//! multicast, documentation, benchmarking or reserved address, and an IPv6
//! address that reaches one of those through a translation (NAT64, 6to4,
//! Teredo), is refused unless the allow-list names it. The request then goes
//! to the checked address (no second lookup an attacker could answer
//! differently), never through a proxy of the environment (`HTTPS_PROXY`
//! would resolve the name itself and bypass the check).
//!
//! # Secrets
//! A webhook's URL often is its secret (Slack and Discord put it in the
//! path; others in the query or as `user:password@`). Errors, logs and
//! `GET /api/alerts/notifiers` show it as `https://hooks.slack.com/…` only:
//! see [`redact_url`]. Rule names, server names and label values (which an
//! agent sends) go into chat messages escaped: no `@everyone`, `<!channel>`
//! or masked link can be smuggled in.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use monitor_core::{AlertState, Notification, Notifier, NotifyError, Severity};
use serde::{Deserialize, Serialize};

/// The body a webhook sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The notification as JSON (documented above).
    #[default]
    Json,
    /// `{"text": ...}` for a Slack incoming webhook.
    Slack,
    /// `{"content": ...}` for a Discord webhook.
    Discord,
    /// Plain text with ntfy's headers.
    Ntfy,
}

/// One webhook's settings. Its `Debug` shows the URL redacted, and
/// neither the secret nor the header values.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A name for logs and the API (`ops`).
    pub name: String,
    /// Where to POST (http or https).
    pub url: String,
    /// Shared secret for the `X-Monitor-Signature` header (none: unsigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Extra request headers (an `Authorization` a receiver wants).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body format.
    #[serde(default)]
    pub format: WebhookFormat,
    /// How long one attempt may take, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Addresses (IPs or CIDR blocks such as `10.0.0.0/8`) allowed although
    /// private or local.
    #[serde(default)]
    pub allow: Vec<String>,
}

fn default_timeout() -> u64 {
    10
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("format", &self.format)
            .field("timeout_secs", &self.timeout_secs)
            .field("allow", &self.allow)
            .finish()
    }
}

/// A URL as logs and the API may show it: scheme, host and port, and `…`
/// for whatever follows (the path, the query, credentials are left out:
/// in a webhook URL they are often the secret).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<url>".into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Credentials before the host.
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let more = rest.len() > authority.len() || authority.contains('@');
    format!("{scheme}://{host}{}", if more { "/…" } else { "" })
}

/// An error and its causes, `: `-separated (reqwest's own message says
/// little without them: "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// `text` with every URL in it redacted as [`redact_url`] does: for error
/// messages of notifiers, which may quote their URL.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: the letters just before "://".
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ']'))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A webhook [`Notifier`].
#[derive(Debug)]
pub struct Webhook {
    config: WebhookConfig,
    /// The URL as errors show it ([`redact_url`]).
    shown: String,
    label: String,
    host: String,
    port: u16,
    allow: Vec<(IpAddr, u8)>,
    tls: Arc<rustls::ClientConfig>,
}

impl Webhook {
    /// A webhook; `tls` is the client configuration for https URLs (the
    /// system's roots, usually).
    ///
    /// # Errors
    /// [`NotifyError::InvalidConfig`] naming what is wrong.
    pub fn new(config: WebhookConfig, tls: Arc<rustls::ClientConfig>) -> Result<Self, NotifyError> {
        let invalid =
            |m: String| NotifyError::InvalidConfig(format!("webhook {:?}: {m}", config.name));
        let url = reqwest::Url::parse(&config.url).map_err(|e| invalid(format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("url: give an http or https URL".into()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| invalid("url: no host".into()))?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| invalid("url: no port".into()))?;
        let allow = config
            .allow
            .iter()
            .map(|a| {
                parse_cidr(a)
                    .ok_or_else(|| invalid(format!("allow: {a:?} is not an IP or CIDR block")))
            })
            .collect::<Result<_, _>>()?;
        for (name, value) in &config.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(invalid(format!("headers: {name:?} is not a valid header")));
            }
        }
        if config.timeout_secs == 0 {
            return Err(invalid("timeout_secs: give at least 1".into()));
        }
        Ok(Webhook {
            shown: redact_url(&config.url),
            label: format!("webhook:{}", config.name),
            config,
            host,
            port,
            allow,
            tls,
        })
    }

    /// The address to send to: the host resolved, every address checked.
    async fn destination(&self) -> Result<SocketAddr, NotifyError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| NotifyError::Unavailable(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        let first = addrs
            .first()
            .copied()
            .ok_or_else(|| NotifyError::Unavailable(format!("{} has no address", self.host)))?;
        for addr in &addrs {
            let ip = addr.ip().to_canonical();
            if is_internal(ip) && !self.allow.iter().any(|&(net, len)| in_block(ip, net, len)) {
                return Err(NotifyError::DestinationNotAllowed(format!(
                    "{} resolves to {ip}, a private or local address; list it under allow to send there",
                    self.host
                )));
            }
        }
        Ok(first)
    }
}

#[async_trait]
impl Notifier for Webhook {
    fn name(&self) -> &str {
        &self.label
    }

    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let timeout = Duration::from_secs(self.config.timeout_secs);
        let addr = self.destination().await?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured((*self.tls).clone())
            // A proxy would resolve the name itself: the check above would
            // be worth nothing.
            .no_proxy()
            .resolve(&self.host, addr)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| NotifyError::Other(Box::new(e)))?;
        let (body, content_type, extra) = render(self.config.format, notification);
        let timestamp = (monitor_core::Timestamp::now().as_millis() / 1000).to_string();
        let mut request = client
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header("x-monitor-timestamp", &timestamp);
        if !notification.delivery_id.is_empty() {
            request = request.header("x-monitor-delivery", notification.delivery_id.as_str());
        }
        for (name, value) in extra
            .iter()
            .map(|(k, v)| (k, v))
            .chain(&self.config.headers)
        {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(secret) = &self.config.secret {
            request = request.header(
                "x-monitor-signature",
                format!(
                    "sha256={}",
                    hex(&hmac_sha256(secret.as_bytes(), &signed(&timestamp, &body)))
                ),
            );
        }
        let response = request.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                NotifyError::Timeout(timeout)
            } else {
                let e = e.without_url();
                NotifyError::Unavailable(redact_urls(&format!(
                    "{}: {}",
                    self.shown,
                    error_chain(&e)
                )))
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let what = format!("{} answered {status}", self.shown);
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(NotifyError::Unavailable(what))
        } else {
            Err(NotifyError::Rejected(what))
        }
    }
}

/// The body, its content type and format-specific headers.
fn render(
    format: WebhookFormat,
    n: &Notification,
) -> (Vec<u8>, &'static str, Vec<(String, String)>) {
    let e = &n.event;
    let icon = match e.state {
        AlertState::Firing => "FIRING",
        AlertState::Resolved => "RESOLVED",
        AlertState::Pending => "PENDING",
        AlertState::Inactive => "INACTIVE",
    };
    // Rule names and messages (which quote label values an agent sent)
    // are escaped for each chat's markup; the dashboard link is ours.
    let text = |escape: fn(&str) -> String| {
        let mut text = format!(
            "[{icon}] {} on {}: {}",
            escape(&e.rule_name),
            escape(&n.server_name),
            escape(&e.message)
        );
        if let Some(url) = &n.dashboard_url {
            text.push_str(&format!(" ({url})"));
        }
        text
    };
    let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap_or_default();
    match format {
        WebhookFormat::Json => (
            serde_json::to_vec(n).unwrap_or_default(),
            "application/json",
            Vec::new(),
        ),
        WebhookFormat::Slack => (
            json(serde_json::json!({ "text": text(slack_escape) })),
            "application/json",
            Vec::new(),
        ),
        WebhookFormat::Discord => (
            // No mention of anyone, whatever the text says; no preview of
            // links.
            json(serde_json::json!({
                "content": text(discord_escape),
                "allowed_mentions": {"parse": []},
                "flags": 4,
            })),
            "application/json",
            Vec::new(),
        ),
        WebhookFormat::Ntfy => {
            let priority = match (e.state, e.severity) {
                (AlertState::Firing, Severity::Critical) => "5",
                (AlertState::Firing, Severity::Warning) => "4",
                _ => "3",
            };
            let tag = if e.state == AlertState::Firing {
                "rotating_light"
            } else {
                "white_check_mark"
            };
            (
                e.message.clone().into_bytes(),
                "text/plain; charset=utf-8",
                vec![
                    (
                        "title".into(),
                        header_text(&format!("[{icon}] {} on {}", e.rule_name, n.server_name)),
                    ),
                    ("priority".into(), priority.into()),
                    ("tags".into(), tag.into()),
                ],
            )
        }
    }
}

/// Text for Slack's markup: `&`, `<` and `>` escaped as Slack asks, so no
/// `<!channel>`, `<@user>` or `<https://evil|label>` comes through.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text for Discord's markdown: its markup characters escaped (no masked
/// link, no `<@user>` or `<#channel>`, no formatting), and `@` followed by a
/// word joiner (mentions are off anyway through `allowed_mentions`).
fn discord_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{2060}"),
            c => out.push(c),
        }
    }
    out
}

/// A header value from any text: control characters (a newline would end
/// the header) become spaces, and text beyond visible ASCII is sent as an
/// RFC 2047 encoded word, which ntfy reads.
fn header_text(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return clean;
    }
    format!("=?UTF-8?B?{}?=", base64(clean.as_bytes()))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The TLS client configuration webhooks use by default: the system's CA
/// certificates.
///
/// # Errors
/// [`NotifyError::InvalidConfig`] when the system has none.
pub fn system_tls() -> Result<Arc<rustls::ClientConfig>, NotifyError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(NotifyError::InvalidConfig(
            "no system CA certificates found for https webhooks".into(),
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| NotifyError::InvalidConfig(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// What the signature covers: the timestamp header, a dot, the body.
pub fn signed(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    message
}

/// HMAC-SHA256 (RFC 2104), with aws-lc-rs's implementation.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key),
        message,
    );
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An IP or a CIDR block: (network, prefix length).
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = match text.split_once('/') {
        Some((ip, len)) => (ip.parse::<IpAddr>().ok()?, len.parse::<u8>().ok()?),
        None => {
            let ip = text.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip.to_canonical(), len))
}

fn in_block(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Loopback, private, link-local, shared (CGNAT), unspecified, broadcast,
/// multicast, documentation, benchmarking, IETF-protocol or reserved
/// addresses, IPv4 and IPv6; and IPv6 addresses that carry an IPv4 address
/// to a translator (NAT64 `64:ff9b::/96`, 6to4 `2002::/16`: internal when
/// the IPv4 one is; local-use NAT64 `64:ff9b:1::/48` and Teredo
/// `2001::/32` always).
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || in_block(ip, IpAddr::from([100, 64, 0, 0]), 10)
                || in_block(ip, IpAddr::from([0, 0, 0, 0]), 8)
                || in_block(ip, IpAddr::from([192, 0, 0, 0]), 24)
                || in_block(ip, IpAddr::from([198, 18, 0, 0]), 15)
                || in_block(ip, IpAddr::from([240, 0, 0, 0]), 4)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                IpAddr::from(std::net::Ipv4Addr::from(
                    (u32::from(hi) << 16) | u32::from(lo),
                ))
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                // Site-local (deprecated), documentation, discard-only.
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)
                // Teredo, local-use NAT64.
                || (s[0] == 0x2001 && s[1] == 0)
                || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001)
                // NAT64 and 6to4: the IPv4 address they lead to.
                || (s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]
                    && is_internal(embedded(s[6], s[7])))
                || (s[0] == 0x2002 && is_internal(embedded(s[1], s[2])))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_secrets() {
        for (url, shown) in [
            (
                "https://hooks.slack.com/services/T0/B0/SECRETXYZ",
                "https://hooks.slack.com/…",
            ),
            (
                "https://user:pa55@h.example:8443/x?token=SECRETXYZ",
                "https://h.example:8443/…",
            ),
            ("http://h.example", "http://h.example"),
            ("https://h.example/", "https://h.example/…"),
            ("not a url", "<url>"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let said = redact_urls(
            "error sending request for url (https://discord.com/api/webhooks/1/SECRETXYZ): connection refused; see http://a:b@c.example/d?k=SECRETXYZ",
        );
        assert!(
            !said.contains("SECRETXYZ") && !said.contains("a:b"),
            "{said}"
        );
        assert!(
            said.contains("https://discord.com/…") && said.contains("connection refused"),
            "{said}"
        );
        let config = WebhookConfig {
            name: "ops".into(),
            url: "https://hooks.slack.com/services/T/B/SECRETXYZ".into(),
            secret: Some("s3cret-value".into()),
            headers: [("authorization".to_owned(), "Bearer t0ken".to_owned())].into(),
            format: WebhookFormat::Slack,
            timeout_secs: 10,
            allow: vec![],
        };
        let debug = format!("{config:?}");
        for secret in ["SECRETXYZ", "s3cret-value", "t0ken"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[test]
    fn chat_bodies_carry_no_mention_link_or_broken_header() {
        let event = monitor_core::AlertEvent {
            id: 1,
            rule_id: "r".into(),
            rule_name:
                "<!channel> @everyone [click](https://evil.example) <https://evil.example|here>"
                    .into(),
            server_id: monitor_core::ServerId::new("srv-01").unwrap_or_else(|e| panic!("{e}")),
            metric: "x".into(),
            labels: monitor_core::Labels::new(),
            from: AlertState::Pending,
            state: AlertState::Firing,
            value: Some(1.0),
            threshold: 0.0,
            severity: Severity::Critical,
            at: monitor_core::Timestamp::from_millis(0),
            message: "disk <@U123> full\r\nX-Injected: 1 — Größe".into(),
        };
        let n = Notification {
            event,
            server_name: "web & <b> Größe".into(),
            dashboard_url: None,
            repeat: false,
            delivery_id: String::new(),
        };
        let (slack, _, _) = render(WebhookFormat::Slack, &n);
        let slack: serde_json::Value = serde_json::from_slice(&slack).unwrap_or_default();
        let text = slack["text"].as_str().unwrap_or_default();
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(
            text.contains("&lt;!channel&gt;") && text.contains("web &amp; &lt;b&gt;"),
            "{text}"
        );
        let (discord, _, _) = render(WebhookFormat::Discord, &n);
        let discord: serde_json::Value = serde_json::from_slice(&discord).unwrap_or_default();
        assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
        let content = discord["content"].as_str().unwrap_or_default();
        assert!(
            content.contains("\\[click\\](https://evil.example)"),
            "{content}"
        );
        assert!(!content.contains("@everyone"), "{content}");
        let (_, _, headers) = render(WebhookFormat::Ntfy, &n);
        for (name, value) in &headers {
            assert!(
                reqwest::header::HeaderValue::from_str(value).is_ok(),
                "{name}: {value:?} is not a valid header value"
            );
        }
        let title = &headers[0].1;
        assert!(title.starts_with("=?UTF-8?B?"), "{title}");
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(header_text("a\nb"), "a b");
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than a block is hashed first.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn internal_addresses_and_allow_blocks() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            // NAT64 to a private address, local-use NAT64, 6to4 to loopback.
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "fec0::1",
            "100::1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "203.0.113.5",
        ] {
            let ip: IpAddr = internal.parse().unwrap_or_else(|e| panic!("{e}"));
            assert!(is_internal(ip.to_canonical()), "{internal}");
        }
        for public in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700::1111",
            "64:ff9b::101:101",
            "2002:101:101::1",
        ] {
            let ip: IpAddr = public.parse().unwrap_or_else(|e| panic!("{e}"));
            assert!(!is_internal(ip), "{public}");
        }
        let (net, len) = parse_cidr("10.0.0.0/8").unwrap_or_else(|| panic!("cidr"));
        assert!(in_block(
            "10.200.0.1".parse().unwrap_or_else(|e| panic!("{e}")),
            net,
            len
        ));
        assert!(!in_block(
            "11.0.0.1".parse().unwrap_or_else(|e| panic!("{e}")),
            net,
            len
        ));
        assert_eq!(
            parse_cidr("127.0.0.1"),
            Some((IpAddr::from([127, 0, 0, 1]), 32))
        );
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
        assert_eq!(parse_cidr("example.com"), None);
    }
}
