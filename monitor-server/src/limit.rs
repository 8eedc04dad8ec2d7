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
    buckets: Mutex<HashMap<String, Bucket>>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bucket>> {
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
        if buckets.len() > PRUNE_ABOVE {
            let full = self.burst;
            let rate = self.rate;
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < full
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        self.refill(bucket, now);
        let needed = n.min(self.burst);
        if bucket.tokens >= needed {
            bucket.tokens -= n;
            Ok(())
        } else {
            let missing = needed - bucket.tokens;
            Err(Duration::from_secs_f64(missing / self.rate))
        }
    }

    /// True when `key` has less than one token left.
    pub fn exhausted(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut buckets = self.lock();
        match buckets.get_mut(key) {
            Some(bucket) => {
                self.refill(bucket, now);
                bucket.tokens < 1.0
            }
            None => false,
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

/// The address to hold a request against: the peer, or behind a proxy on
/// loopback (nginx), the last address it appended to `X-Forwarded-For`.
fn client_ip(request: &Request) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0.0.ip())?;
    if peer.is_loopback()
        && let Some(forwarded) = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        && let Some(last) = forwarded.rsplit(',').next()
        && let Ok(ip) = last.trim().parse::<IpAddr>()
    {
        return Some(ip);
    }
    Some(peer)
}

/// Middleware: a client address that sent too many wrong tokens (401 or
/// 403 answers) gets 429 until its bucket refills. Requests without a
/// known address (an embedding without connect info) pass.
pub async fn failed_auth(
    State(limiter): State<std::sync::Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(ip) = client_ip(&request) else {
        return next.run(request).await;
    };
    let key = ip.to_string();
    if limiter.exhausted(&key) {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failed_attempts",
            "too many requests with a wrong token from this address; wait a minute",
        )
        .with_retry_after(Duration::from_secs(60))
        .into_response();
    }
    let response = next.run(request).await;
    if matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        // Exhaustion shows on the next request.
        let _ = limiter.take(&key, 1.0);
    }
    response
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
    fn a_bucket_grants_its_burst_then_its_rate() {
        let l = RateLimiter::new(10.0, 5);
        assert!(l.take("a", 5.0).is_ok());
        let wait = l.take("a", 1.0).unwrap_err();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(l.exhausted("a"));
        assert!(!l.exhausted("b"), "keys are independent");
        std::thread::sleep(Duration::from_millis(120));
        assert!(l.take("a", 1.0).is_ok(), "refilled at the rate");
        // More than the burst at once: granted on a full bucket, paid back.
        assert!(
            l.take("b", 8.0).is_ok(),
            "a batch above the burst is not refused for ever"
        );
        let wait = l.take("b", 1.0).unwrap_err();
        assert!(
            wait > Duration::from_millis(350),
            "the debt is paid back first: {wait:?}"
        );
    }
}
