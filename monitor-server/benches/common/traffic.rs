//! The load generator of the server's benchmarks: simulated agents'
//! report bodies made before the clock starts, a minimal HTTP/1.1 client
//! over TLS, saturation and paced phases over one or several server
//! processes, and hosts registered through the API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use monitor_core::testing::{Rng, report};
use monitor_core::wire;

/// reqwest, for the untimed parts (health checks, registration).
pub(crate) fn client(tls: &rustls::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls.clone())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One keep-alive HTTPS connection speaking just enough HTTP/1.1 to post
/// a body and read the status: the load generator shares the cores with
/// the server, so it spends as little CPU per request as it can (a
/// general-purpose client costs it about twice as much).
pub(crate) struct Conn {
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    out: Vec<u8>,
    buf: Vec<u8>,
}

impl Conn {
    /// Opens a connection from the next of 250 loopback addresses
    /// (127.0.0.2 to 127.0.0.251): a fleet's agents come from addresses of
    /// their own, and the server keeps per-address allowances.
    pub(crate) async fn open(
        tls: &Arc<rustls::ClientConfig>,
        addr: SocketAddr,
    ) -> std::io::Result<Conn> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let socket = tokio::net::TcpSocket::new_v4()?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % 250;
        socket.bind(SocketAddr::from(([127, 0, 0, 2 + n as u8], 0)))?;
        let tcp = socket.connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
            .connect(name, tcp)
            .await?;
        Ok(Conn {
            stream,
            out: Vec::with_capacity(4096),
            buf: Vec::with_capacity(1024),
        })
    }

    /// Posts `r` to `path`; the response's status.
    pub(crate) async fn post(
        &mut self,
        path: &str,
        r: &Request,
        gzip: bool,
    ) -> std::io::Result<u16> {
        use std::io::{Error, ErrorKind, Write};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.out.clear();
        write!(
            self.out,
            "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nx-auth-token: {}\r\n{}content-length: {}\r\n\r\n",
            r.token,
            if gzip {
                "content-encoding: gzip\r\n"
            } else {
                ""
            },
            r.body.len()
        )?;
        self.out.extend_from_slice(&r.body);
        self.stream.write_all(&self.out).await?;
        // Head, then as many body bytes as it announces.
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "connection closed"));
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| Error::new(ErrorKind::InvalidData, "response head is not UTF-8"))?;
        let status = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, "no status"))?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .ok_or_else(|| Error::new(ErrorKind::InvalidData, "no content-length"))?;
        while self.buf.len() < head_end + length {
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(Error::new(ErrorKind::UnexpectedEof, "connection closed"));
            }
        }
        Ok(status)
    }
}

pub(crate) fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(body).unwrap();
    e.finish().unwrap()
}

/// One request to send: the host's token and the body.
pub(crate) struct Request {
    pub(crate) token: Arc<str>,
    pub(crate) body: axum::body::Bytes,
}

/// What the hosts' CPU and memory look like to the alert rules.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Fleet {
    /// Every host below the default thresholds (CPU 90 %, memory 80 %)
    /// except one in a hundred, steadily above them: a healthy fleet with a
    /// few alerts firing and none flapping.
    Steady,
    /// Every host above the thresholds: a fleet-wide incident, where each
    /// host's next report starts an alert.
    Incident,
}

/// Round-robin over hosts, each report 5 s after the host's previous one.
pub(crate) fn bodies(
    hosts: &[(String, Arc<str>)],
    count: usize,
    round0: usize,
    base: i64,
    fleet: Fleet,
) -> Vec<Request> {
    let mut rng = Rng(42);
    (0..count)
        .map(|n| {
            let h = n % hosts.len();
            let round = round0 + n / hosts.len();
            let t = base + round as i64 * 5000 + (h % 5000) as i64;
            let mut snapshot = report(&hosts[h].0, t, round as i64, &mut rng);
            let hot = fleet == Fleet::Incident || h.is_multiple_of(100);
            for family in &mut snapshot.metrics {
                if family.name == "cpu_usage_percent" || family.name == "memory_used_percent" {
                    for sample in &mut family.samples {
                        // 95 to 100 when hot, else 0 to 70.
                        sample.value = if hot {
                            95.0 + sample.value / 20.0
                        } else {
                            sample.value * 0.7
                        };
                    }
                }
            }
            Request {
                token: Arc::clone(&hosts[h].1),
                body: gzip(&wire::encode(&snapshot).unwrap()).into(),
            }
        })
        .collect()
}

/// Outcome of a phase.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) ok: usize,
    pub(crate) refused: usize,
    pub(crate) errors: usize,
    pub(crate) latencies_us: Vec<u32>,
    pub(crate) secs: f64,
}

impl Outcome {
    pub(crate) fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

/// Sends `r` on `conn` (opened first when there is none, or again after
/// an error): (ok, refused, latency in µs).
pub(crate) async fn send(
    conn: &mut Option<Conn>,
    target: &Target,
    r: &Request,
    gzip: bool,
) -> (bool, bool, u32) {
    let started = Instant::now();
    if conn.is_none() {
        *conn = Conn::open(&target.tls, target.addr).await.ok();
    }
    let status = match conn.as_mut() {
        Some(c) => c.post(&target.path, r, gzip).await.ok(),
        None => None,
    };
    if status.is_none() {
        *conn = None;
    }
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let refused = status.is_some() && !ok;
    (ok, refused, started.elapsed().as_micros() as u32)
}

/// Where the requests go.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) addr: SocketAddr,
    pub(crate) path: String,
}

/// As fast as `connections` keep-alive connections go, until the requests
/// or the time run out; connection i goes to target i modulo their number.
pub(crate) async fn saturate(
    targets: &[Target],
    requests: Arc<Vec<Request>>,
    connections: usize,
    secs: u64,
    gzip: bool,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    // Every connection is open (TLS handshake done) before the clock starts.
    let ready = Arc::new(tokio::sync::Barrier::new(connections + 1));
    let start: Arc<std::sync::OnceLock<Instant>> = Arc::default();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let target = targets[c % targets.len()].clone();
        let (requests, next) = (Arc::clone(&requests), Arc::clone(&next));
        let (ready, start) = (Arc::clone(&ready), Arc::clone(&start));
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let mut conn = Conn::open(&target.tls, target.addr).await.ok();
            ready.wait().await;
            let deadline = *start.get_or_init(Instant::now) + Duration::from_secs(secs);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(r) = requests.get(i) else { break };
                let (ok, refused, us) = send(&mut conn, &target, r, gzip).await;
                out.ok += usize::from(ok);
                out.refused += usize::from(refused);
                out.errors += usize::from(!ok && !refused);
                out.latencies_us.push(us);
            }
            out
        }));
    }
    ready.wait().await;
    let started = *start.get_or_init(Instant::now);
    let mut all = Outcome::default();
    for t in tasks {
        let o = t.await.unwrap();
        all.ok += o.ok;
        all.refused += o.refused;
        all.errors += o.errors;
        all.latencies_us.extend(o.latencies_us);
    }
    all.secs = started.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    all
}

/// `rate` requests a second, each on its own task, for as many as given,
/// request i to target i modulo their number; each takes an idle
/// connection to its target or opens one (the time to open it counts in
/// its latency).
pub(crate) async fn paced(targets: &[Target], requests: Vec<Request>, rate: usize) -> Outcome {
    let mut pools = Vec::new();
    for target in targets {
        let idle: Arc<std::sync::Mutex<Vec<Conn>>> = Arc::default();
        for _ in 0..64 / targets.len() {
            if let Ok(c) = Conn::open(&target.tls, target.addr).await {
                idle.lock().unwrap().push(c);
            }
        }
        pools.push(idle);
    }
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(requests.len());
    for (i, r) in requests.into_iter().enumerate() {
        ticker.tick().await;
        let at = i % targets.len();
        let (target, idle) = (targets[at].clone(), Arc::clone(&pools[at]));
        tasks.push(tokio::spawn(async move {
            let mut conn = idle.lock().unwrap().pop();
            let out = send(&mut conn, &target, &r, true).await;
            if let Some(c) = conn {
                idle.lock().unwrap().push(c);
            }
            out
        }));
    }
    let mut out = Outcome::default();
    for t in tasks {
        let (ok, refused, us) = t.await.unwrap();
        out.ok += usize::from(ok);
        out.refused += usize::from(refused);
        out.errors += usize::from(!ok && !refused);
        out.latencies_us.push(us);
    }
    out.secs = started.elapsed().as_secs_f64();
    out.latencies_us.sort_unstable();
    out
}

/// The server's peak RSS, sampled every 200 ms until stopped.
pub(crate) struct PeakRss {
    done: Arc<std::sync::atomic::AtomicBool>,
    peak: Arc<std::sync::atomic::AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl PeakRss {
    pub(crate) fn start(pid: u32) -> PeakRss {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sampler = {
            let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(super::usage(pid).1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        PeakRss {
            done,
            peak,
            sampler,
        }
    }

    /// The peak, in KiB.
    pub(crate) async fn stop(self) -> u64 {
        self.done.store(true, Ordering::Relaxed);
        self.sampler.await.unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}

pub(crate) fn print(label: &str, o: &Outcome) {
    let n = o.ok + o.refused + o.errors;
    println!(
        "{label}: {n} requests in {:.1} s: {:.0}/s; {} ok, {} refused, {} failed; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        o.secs,
        n as f64 / o.secs,
        o.ok,
        o.refused,
        o.errors,
        o.percentile(0.5),
        o.percentile(0.99),
        o.percentile(1.0)
    );
}

/// Registers hosts `{prefix}-00000` and on through the server at
/// `base_url` (32 at a time) with the admin token `admin`: each host's id
/// and agent token.
pub(crate) async fn register_hosts(
    client: &reqwest::Client,
    base_url: &str,
    admin: &str,
    prefix: &str,
    n: usize,
) -> Vec<(String, Arc<str>)> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:05}")).collect();
    let mut hosts: Vec<(String, Arc<str>)> = Vec::with_capacity(n);
    for chunk in ids.chunks(32) {
        let mut tasks = Vec::new();
        for id in chunk {
            let (client, url, id) = (
                client.clone(),
                format!("{base_url}/api/register"),
                id.clone(),
            );
            let admin = admin.to_owned();
            tasks.push(tokio::spawn(async move {
                let r = client
                    .post(url)
                    .header("x-admin-token", admin)
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"server_id":"{id}"}}"#))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                let v: serde_json::Value =
                    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
                (id, Arc::<str>::from(v["token"].as_str().unwrap()))
            }));
        }
        for t in tasks {
            hosts.push(t.await.unwrap());
        }
    }
    hosts
}

/// Opens a connection for each of `requests` (64 at a time), posts the
/// request on it and keeps it open, as agents do between reports: the
/// connections, each of whose request was answered 200.
pub(crate) async fn hold(target: &Target, requests: &[Request]) -> Vec<Conn> {
    let mut held = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(64) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|r| {
                let target = target.clone();
                let r = Request {
                    token: Arc::clone(&r.token),
                    body: r.body.clone(),
                };
                tokio::spawn(async move {
                    let mut c = Conn::open(&target.tls, target.addr).await.unwrap();
                    assert_eq!(c.post(&target.path, &r, true).await.unwrap(), 200);
                    c
                })
            })
            .collect();
        for t in tasks {
            held.push(t.await.unwrap());
        }
    }
    held
}
