//! Rate limits: token buckets per key (an agent's server id, a client
//! address), and the middleware that slows down token guessing.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Keys kept before buckets that have refilled are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// A token bucket per key: `rate` tokens a second on average, up to `burst`
/// at once.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

/// The buckets, and the count of keys above which full ones are forgotten
/// next: it doubles after a pass that could not forget enough, so a flood
/// of keys costs one pass per doubling, not one per call.
#[derive(Debug, Default)]
struct Buckets {
    map: HashMap<String, Bucket>,
    prune_above: usize,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `rate` per second, `burst` at most at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            rate: rate.max(f64::MIN_POSITIVE),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        // A panic under the lock leaves at worst a bucket a bit off.
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
    }

    /// Takes `n` tokens for `key`, or says how long until they are there
    /// (then nothing is taken). A request costing more than the burst (a
    /// replay batch larger than `ingest_burst`) is granted on a full bucket
    /// and leaves it in debt, so the ones after it wait longer: it is
    /// throttled, never refused for ever.
    ///
    /// # Errors
    /// The wait before `n` tokens are available.
    pub fn take(&self, key: &str, n: f64) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.lock();
        let bucket = self.bucket(&mut buckets, key, now);
        let needed = n.min(self.burst);
        if bucket.tokens >= needed {
            bucket.tokens -= n;
            Ok(())
        } else {
            let missing = needed - bucket.tokens;
            Err(Duration::from_secs_f64(missing / self.rate))
        }
    }

    /// `key`'s bucket, refilled to `now` (made full when new); buckets that
    /// are full again are forgotten once there are many keys.
    fn bucket<'a>(&self, buckets: &'a mut Buckets, key: &str, now: Instant) -> &'a mut Bucket {
        if buckets.map.len() > buckets.prune_above.max(PRUNE_ABOVE) {
            let (full, rate) = (self.burst, self.rate);
            buckets.map.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < full
            });
            buckets.prune_above = buckets.map.len().saturating_mul(2);
        }
        let bucket = buckets.map.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        self.refill(bucket, now);
        bucket
    }

    /// Takes one token for `key` before a check whose failure it pays
    /// for: the [`Reservation`] gives it back when dropped, unless
    /// [`Reservation::keep`] is called. So concurrent wrong tokens cannot
    /// all be checked before the limit bites: beyond the bucket, the
    /// check is not made at all.
    ///
    /// # Errors
    /// The wait before a token is available.
    pub fn reserve(self: &std::sync::Arc<Self>, key: &str) -> Result<Reservation, Duration> {
        self.take(key, 1.0)?;
        Ok(Reservation {
            limiter: std::sync::Arc::clone(self),
            key: key.to_owned(),
            kept: false,
        })
    }

    fn refund(&self, key: &str) {
        let now = Instant::now();
        let mut buckets = self.lock();
        let bucket = self.bucket(&mut buckets, key, now);
        bucket.tokens = (bucket.tokens + 1.0).min(self.burst);
    }
}

/// A token taken by [`RateLimiter::reserve`]: given back on drop unless
/// kept.
#[derive(Debug)]
pub struct Reservation {
    limiter: std::sync::Arc<RateLimiter>,
    key: String,
    kept: bool,
}

impl Reservation {
    /// Keeps the token taken: the check it was taken for failed.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.kept {
            self.limiter.refund(&self.key);
        }
    }
}

/// The client's address as the connection gives it: set by
/// [`crate::serve::serve`], or by `axum::serve` with
/// `into_make_service_with_connect_info::<ClientAddr>()`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// A proxy whose `X-Forwarded-For` is believed, though not on loopback
/// (`trusted_proxies`): set on each request of its connections by
/// [`crate::serve::serve`].
#[derive(Debug, Clone, Copy)]
pub struct TrustedProxy;

/// An address or a network of them: `10.0.0.5`, `10.0.0.0/8`,
/// `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` is in the network (an IPv4 address mapped into IPv6
    /// counts as the IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wrong = || {
            format!("{text:?}: give an address or a network (10.0.0.5, 10.0.0.0/8, 2001:db8::/32)")
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr = addr.parse::<IpAddr>().map_err(|_| wrong())?.to_canonical();
        let most = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= most)
                .ok_or_else(wrong)?,
            None => most,
        };
        Ok(Network { addr, prefix })
    }
}

/// The address to hold a request against: the peer, or behind a proxy
/// (nginx on loopback, or a peer in `trusted_proxies`), the last address it
/// appended to `X-Forwarded-For`. An IPv4 address mapped into IPv6
/// (`::ffff:127.0.0.1`, what a server listening on `[::]` sees of an IPv4
/// client) counts as the IPv4 one.
pub fn client_ip(parts: &axum::http::request::Parts) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0.0.ip().to_canonical())?;
    let proxy = peer.is_loopback() || parts.extensions.get::<TrustedProxy>().is_some();
    if proxy
        && let Some(forwarded) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        && let Some(last) = forwarded.rsplit(',').next()
        && let Ok(ip) = last.trim().parse::<IpAddr>()
    {
        return Some(ip.to_canonical());
    }
    Some(peer)
}

/// The key a client address is counted under: the address, or for IPv6
/// its /64 (one host usually holds a whole /64, and could otherwise use a
/// fresh address for every attempt).
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Middleware: a request not answered within `timeout` of its head (the
/// body's arrival included) gets 503 `timeout`, so that a store which
/// stopped answering costs clients a clear error they retry, not a request
/// that hangs; an ingest cut off this way may still be stored, and its
/// retry is then counted a duplicate. The live stream (`/api/stream`), open
/// for as long as its client reads, is not held to it.
pub async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/api/stream" {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, ?timeout, "A request was not answered in time (limits.request_timeout): is the store slow or unreachable?");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the server could not answer within {} (limits.request_timeout): its store is slow or unreachable; retry later",
                    crate::config::format_duration(timeout)
                ),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_bound_concurrent_checks_and_are_given_back() {
        let l = std::sync::Arc::new(RateLimiter::new(0.5, 3));
        // Three checks in flight at once: a fourth is not made at all.
        let held: Vec<Reservation> = (0..3).map(|_| l.reserve("ip").unwrap()).collect();
        assert!(l.reserve("ip").is_err());
        // Two succeed (given back), one fails (kept).
        let mut held = held.into_iter();
        drop(held.next());
        drop(held.next());
        if let Some(r) = held.next() {
            r.keep();
        }
        let a = l.reserve("ip").unwrap();
        let b = l.reserve("ip").unwrap();
        assert!(l.reserve("ip").is_err(), "one token was spent");
        a.keep();
        b.keep();
    }

    #[test]
    fn a_proxy_on_ipv4_mapped_loopback_is_a_proxy() {
        // A server listening on [::] sees nginx on 127.0.0.1 as
        // ::ffff:127.0.0.1: it was not taken for loopback, so every client
        // shared nginx's address.
        let parts = |peer: &str, forwarded: &str| {
            let mut request = axum::http::Request::builder()
                .header("x-forwarded-for", forwarded)
                .body(())
                .unwrap_or_else(|e| panic!("{e}"));
            let addr: SocketAddr = peer.parse().unwrap_or_else(|e| panic!("{e}"));
            request
                .extensions_mut()
                .insert(ConnectInfo(ClientAddr(addr)));
            request.into_parts().0
        };
        let seen = |peer: &str| client_ip(&parts(peer, "198.51.100.1, 203.0.113.7"));
        let client: IpAddr = "203.0.113.7".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen("[::ffff:127.0.0.1]:40000"), Some(client));
        assert_eq!(seen("127.0.0.1:40000"), Some(client));
        assert_eq!(seen("[::1]:40000"), Some(client));
        // Anyone else's X-Forwarded-For is not believed.
        let direct: IpAddr = "192.0.2.9".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen("[::ffff:192.0.2.9]:40000"), Some(direct));
        // Unless the connection is from a trusted proxy.
        let mut trusted = parts("[::ffff:192.0.2.9]:40000", "198.51.100.1, 203.0.113.7");
        trusted.extensions.insert(TrustedProxy);
        assert_eq!(client_ip(&trusted), Some(client));
    }

    #[test]
    fn networks_of_trusted_proxies() {
        let net = |s: &str| s.parse::<Network>().unwrap_or_else(|e| panic!("{e}"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{e}"));
        assert!(net("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(net("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("192.0.2.10").contains(ip("192.0.2.10")));
        assert!(!net("192.0.2.10").contains(ip("192.0.2.11")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.7")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        for wrong in ["10.0.0.0/33", "nginx.example", "10.0.0.0/", "::/129", ""] {
            assert!(wrong.parse::<Network>().is_err(), "{wrong}");
        }
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(a), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(mapped.to_canonical().is_loopback());
        assert_eq!(address_key(mapped.to_canonical()), "127.0.0.1");
    }

    #[test]
    fn a_bucket_grants_its_burst_then_its_rate() {
        let l = RateLimiter::new(10.0, 5);
        assert!(l.take("a", 5.0).is_ok());
        let wait = l.take("a", 1.0).unwrap_err();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(l.take("b", 1.0).is_ok(), "keys are independent");
        std::thread::sleep(Duration::from_millis(120));
        assert!(l.take("a", 1.0).is_ok(), "refilled at the rate");
        // More than the burst at once: granted on a full bucket, paid back.
        assert!(
            l.take("c", 8.0).is_ok(),
            "a batch above the burst is not refused for ever"
        );
        let wait = l.take("c", 1.0).unwrap_err();
        assert!(
            wait > Duration::from_millis(350),
            "the debt is paid back first: {wait:?}"
        );
    }
}
