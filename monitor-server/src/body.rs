//! Request bodies: plain or gzip-encoded, with the body limit applied to
//! the inflated size.
//!
//! Agents send gzip bodies. Inflating them here, instead of in a generic
//! decompression layer, reuses one inflate state per thread (a fresh one is
//! a 43 KB zeroed allocation) and reads the compressed body in one piece.

use std::cell::RefCell;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_ENCODING;
use flate2::{Crc, Decompress, FlushDecompress, Status};

use crate::api::AppState;
use crate::error::ApiError;

/// A request body, inflated when it came with `Content-Encoding: gzip`,
/// of at most [`SETTINGS_BODY_BYTES`] (the bodies of everything but ingest:
/// registrations, thresholds, rules, silences, previews).
///
/// Handlers take it after their access extractor: axum runs the extractors
/// of a request's parts first, so a request without a valid credential is
/// answered before its body is read or inflated.
#[derive(Debug, Clone)]
pub struct Body(pub Bytes);

/// The largest body of a request other than ingest, inflated: far above
/// any rule or silence (a rule with a thousand per-server overrides is
/// about 60 KB), far below the ingest limit.
pub const SETTINGS_BODY_BYTES: usize = 256 << 10;

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = SETTINGS_BODY_BYTES.min(state.max_body_bytes());
        let (parts, body) = req.into_parts();
        read(&parts.headers, body, limit).await.map(Body)
    }
}

/// Reads a request body of at most `limit` bytes as sent and, with
/// `Content-Encoding: gzip`, inflated.
///
/// # Errors
/// 413 `body_too_large`, 408 `body_timeout` (slower than
/// `limits.body_timeout`), 400 `invalid_gzip` or `unreadable_body`, 415 for
/// another encoding.
pub async fn read(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    Raw::read(headers, body, limit).await?.inflate(limit)
}

/// A request body as sent: read, not inflated yet.
#[derive(Debug)]
pub struct Raw {
    bytes: Bytes,
    gzip: bool,
}

impl Raw {
    /// Reads a body of at most `limit` bytes as sent.
    ///
    /// # Errors
    /// As [`read`], but for `invalid_gzip`.
    pub async fn read(
        headers: &axum::http::HeaderMap,
        body: axum::body::Body,
        limit: usize,
    ) -> Result<Raw, ApiError> {
        let encoding = headers.get(CONTENT_ENCODING).map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim()
                .to_ascii_lowercase()
        });
        let gzip = match encoding.as_deref() {
            None | Some("" | "identity") => false,
            Some("gzip" | "x-gzip") => true,
            Some(other) => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "Content-Encoding {other:?} is not supported: send gzip or no encoding"
                    ),
                ));
            }
        };
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is larger than {limit} bytes (limits.max_body_bytes for ingest)"),
            )
        };
        // A declared length over the limit is refused before reading a byte.
        if headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > limit as u64)
        {
            return Err(too_large());
        }
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
            if crate::serve::is_body_timeout(&error) {
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    error.to_string(),
                );
            }
            if is_length_limit(&error) {
                return too_large();
            }
            ApiError::bad_request(
                "unreadable_body",
                format!("the body could not be read: {error}"),
            )
        })?;
        Ok(Raw { bytes, gzip })
    }

    /// What the body will take once inflated, at most `limit`: its length
    /// when plain; for gzip, the length its trailer declares (the sender's
    /// word: check the inflated body's length against it), or `limit`
    /// when it has none.
    pub fn inflated_size(&self, limit: usize) -> usize {
        if !self.gzip {
            return self.bytes.len();
        }
        trailer_size(&self.bytes).map_or(limit, |n| n.min(limit))
    }

    /// The body inflated (as it is when it was not gzip).
    ///
    /// # Errors
    /// 413 `body_too_large` past `limit`, 400 `invalid_gzip`.
    pub fn inflate(self, limit: usize) -> Result<Bytes, ApiError> {
        if !self.gzip {
            return Ok(self.bytes);
        }
        match gunzip(&self.bytes, limit) {
            Ok(inflated) => Ok(Bytes::from(inflated)),
            Err(GzipError::TooLarge) => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the gzip body inflates to more than {limit} bytes (limits.max_body_bytes)"
                ),
            )),
            Err(GzipError::Corrupt(what)) => Err(ApiError::bad_request(
                "invalid_gzip",
                format!("the body is not valid gzip: {what}"),
            )),
        }
    }
}

/// Whether a body error is the length limit of [`axum::body::to_bytes`].
fn is_length_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Why a gzip body could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GzipError {
    /// The inflated data would be larger than the limit.
    #[error("the inflated body is over the limit")]
    TooLarge,
    /// Not gzip, truncated, or a checksum mismatch.
    #[error("{0}")]
    Corrupt(&'static str),
}

thread_local! {
    /// One raw-deflate state per thread, reset between bodies.
    static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// Inflates `input`, one or more gzip members (RFC 1952), into at most
/// `limit` bytes, checking each member's CRC-32 and length.
pub fn gunzip(mut input: &[u8], limit: usize) -> Result<Vec<u8>, GzipError> {
    // Beyond the declared size, the buffer grows as it fills.
    let mut out = Vec::with_capacity(declared_size(input).clamp(64, limit.max(64)));
    INFLATE.with(|inflate| {
        let inflate = &mut *inflate.borrow_mut();
        loop {
            let start = out.len();
            input = skip_header(input)?;
            inflate.reset(false);
            let used = inflate_member(inflate, input, &mut out, limit)?;
            input = &input[used..];
            let (trailer, rest) = input
                .split_first_chunk::<8>()
                .ok_or(GzipError::Corrupt("truncated trailer"))?;
            let mut crc = Crc::new();
            crc.update(&out[start..]);
            let [c0, c1, c2, c3, l0, l1, l2, l3] = *trailer;
            if crc.sum() != u32::from_le_bytes([c0, c1, c2, c3]) {
                return Err(GzipError::Corrupt("CRC-32 mismatch"));
            }
            // ISIZE is the length modulo 2^32.
            if (out.len() - start) as u32 != u32::from_le_bytes([l0, l1, l2, l3]) {
                return Err(GzipError::Corrupt("length mismatch"));
            }
            input = rest;
            if input.is_empty() {
                return Ok(out);
            }
        }
    })
}

/// The inflated length a gzip body declares: its last member's trailer
/// (the length modulo 2^32; for the usual single member, the exact size).
/// It is the sender's word, so it is believed up to 16 times the input (JSON
/// inflates 5 to 10 times); 8 times the input without a trailer.
fn declared_size(input: &[u8]) -> usize {
    trailer_size(input)
        .unwrap_or_else(|| input.len().saturating_mul(8))
        .min(input.len().saturating_mul(16))
}

/// The length a gzip body's last trailer declares (ISIZE), when the body is
/// long enough to have one.
fn trailer_size(input: &[u8]) -> Option<usize> {
    match input.last_chunk::<4>() {
        Some(&isize) if input.len() >= 18 => Some(u32::from_le_bytes(isize) as usize),
        _ => None,
    }
}

/// Skips one member's header, returning the deflate data after it.
fn skip_header(input: &[u8]) -> Result<&[u8], GzipError> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let (head, mut rest) = input
        .split_first_chunk::<10>()
        .ok_or(GzipError::Corrupt("truncated header"))?;
    if head[0..2] != [0x1f, 0x8b] {
        return Err(GzipError::Corrupt("no gzip magic number"));
    }
    if head[2] != 8 {
        return Err(GzipError::Corrupt("compression method is not deflate"));
    }
    let flags = head[3];
    if flags & 0xe0 != 0 {
        return Err(GzipError::Corrupt("reserved header flags set"));
    }
    let truncated = GzipError::Corrupt("truncated header");
    if flags & FEXTRA != 0 {
        let (len, after) = rest.split_first_chunk::<2>().ok_or(truncated.clone())?;
        let len = usize::from(u16::from_le_bytes(*len));
        rest = after.get(len..).ok_or(truncated.clone())?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let end = rest.iter().position(|&b| b == 0).ok_or(truncated.clone())?;
            rest = &rest[end + 1..];
        }
    }
    if flags & FHCRC != 0 {
        rest = rest.get(2..).ok_or(truncated)?;
    }
    Ok(rest)
}

/// Inflates one raw deflate stream onto `out`; returns the input bytes used.
fn inflate_member(
    inflate: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<usize, GzipError> {
    let base = inflate.total_in();
    loop {
        if out.len() == out.capacity() {
            if out.len() >= limit {
                return Err(GzipError::TooLarge);
            }
            let more = out.capacity().max(1024).min(limit - out.len());
            out.reserve_exact(more);
        }
        let used = usize::try_from(inflate.total_in() - base).unwrap_or(usize::MAX);
        let rest = input.get(used..).unwrap_or_default();
        let before = (inflate.total_in(), out.len());
        let status = inflate
            .decompress_vec(rest, out, FlushDecompress::None)
            .map_err(|_| GzipError::Corrupt("invalid deflate data"))?;
        if status == Status::StreamEnd {
            return Ok(usize::try_from(inflate.total_in() - base).unwrap_or(usize::MAX));
        }
        if (inflate.total_in(), out.len()) == before && out.len() < out.capacity() {
            return Err(GzipError::Corrupt("truncated deflate data"));
        }
    }
}

/// Middleware: a request answered with an error before its body was read
/// (a wrong token, a foreign origin, a declared length over the limit) has
/// the body read and dropped, at most `limit` bytes and never inflated,
/// before the answer goes out. Without it the connection closed while the
/// client was still sending, and a client or a proxy in front (nginx)
/// reported a broken connection (502) instead of the server's JSON error.
/// Of a larger body the first `limit` bytes are read: the answer goes out
/// and the connection closes.
pub async fn drain_refused(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(body)));
    let request = Request::from_parts(parts, axum::body::Body::new(Slot(slot.clone())));
    let response = next.run(request).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        let unread = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(body) = unread {
            let _ = axum::body::to_bytes(body, limit).await;
        }
    }
    response
}

/// A request body kept where [`drain_refused`] finds it again after the
/// handler: what the handler did not read is still there.
struct Slot(std::sync::Arc<std::sync::Mutex<Option<axum::body::Body>>>);

impl Slot {
    fn with<R>(&self, f: impl FnOnce(&mut Option<axum::body::Body>) -> R) -> R {
        f(&mut self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl http_body::Body for Slot {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        self.with(|body| match body {
            Some(body) => std::pin::Pin::new(body).poll_frame(cx),
            None => std::task::Poll::Ready(None),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.with(|body| body.as_ref().is_none_or(http_body::Body::is_end_stream))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.with(|body| {
            body.as_ref().map_or_else(
                || http_body::SizeHint::with_exact(0),
                http_body::Body::size_hint,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).ok();
        e.finish().unwrap_or_default()
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"abcdefghij"[i * 7 % 10]).collect()
    }

    #[test]
    fn round_trips_and_reuses_the_state() {
        for n in [0, 1, 1000, 100_000] {
            let data = text(n);
            assert_eq!(gunzip(&gzip(&data), 1 << 20), Ok(data.clone()));
            assert_eq!(gunzip(&gzip(&data), 1 << 20), Ok(data));
        }
    }

    #[test]
    fn reads_every_member_and_optional_header_fields() {
        let mut two = gzip(b"first ");
        two.extend(gzip(b"second"));
        assert_eq!(gunzip(&two, 1024), Ok(b"first second".to_vec()));

        let mut named = Vec::new();
        let mut e = flate2::GzBuilder::new()
            .filename("report.json")
            .comment("from a test")
            .extra(vec![1, 2, 3])
            .write(&mut named, flate2::Compression::fast());
        e.write_all(b"{}").ok();
        e.finish().ok();
        assert_eq!(gunzip(&named, 1024), Ok(b"{}".to_vec()));
    }

    #[test]
    fn holds_the_inflated_size_to_the_limit() {
        let data = text(10_000);
        let body = gzip(&data);
        assert_eq!(gunzip(&body, 10_000), Ok(data));
        assert_eq!(gunzip(&body, 9_999), Err(GzipError::TooLarge));
        let bomb = gzip(&vec![0; 50 << 20]);
        assert!(bomb.len() < 100_000);
        assert_eq!(gunzip(&bomb, 4 << 20), Err(GzipError::TooLarge));
    }

    #[test]
    fn refuses_what_is_not_intact_gzip() {
        let body = gzip(&text(5000));
        assert!(matches!(gunzip(b"{}", 1024), Err(GzipError::Corrupt(_))));
        assert!(matches!(
            gunzip(&body[..body.len() - 4], 1 << 20),
            Err(GzipError::Corrupt(_))
        ));
        assert!(matches!(
            gunzip(&body[..body.len() / 2], 1 << 20),
            Err(GzipError::Corrupt(_))
        ));
        let mut flipped = body.clone();
        let last = flipped.len() - 5;
        flipped[last] ^= 1;
        assert!(matches!(
            gunzip(&flipped, 1 << 20),
            Err(GzipError::Corrupt(_))
        ));
        let mut trailing = body;
        trailing.push(0);
        assert!(matches!(
            gunzip(&trailing, 1 << 20),
            Err(GzipError::Corrupt(_))
        ));
    }
}
