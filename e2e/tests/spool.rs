//! The agent's spool when things go wrong, against the real server code
//! on loopback: a report the server refuses costs only itself (the batch
//! is split down to it), `rejected/` stays within the spool's bound, a
//! spool that cannot be written does not silence the agent, a file cut
//! short by a crash costs only itself, leftovers of interrupted writes are
//! cleaned, and a second server takes over when the first is down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use monitor_core::Catalog;
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::Dir;
use monitor_agent::push::{PushConfig, Pusher};
use monitor_core::catalog::NewServer;
use monitor_core::{Collection, Labels, ServerId, Snapshot, Store, Timestamp, Unit};
use monitor_server::api::{AppState, router};
use monitor_server::auth::{Scope, Token};
use monitor_server::config::LimitSettings;
use monitor_store::{SqlStore, StoreOptions};

/// The server's router on a loopback port (plain HTTP, as the quickstart's
/// agent uses), with `limits`; its store, address and token for `id`.
async fn server(dir: &Dir, id: &str, limits: LimitSettings) -> (Arc<SqlStore>, SocketAddr, String) {
    let (store, token) = registered(dir, id).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve(&store, listener, &limits);
    (store, addr, token.expose().to_owned())
}

/// A store in `dir` with `id` registered, and its agent token.
async fn registered(dir: &Dir, id: &str) -> (Arc<SqlStore>, Token) {
    let store = Arc::new(
        SqlStore::open(StoreOptions::sqlite(dir.0.join("db")))
            .await
            .unwrap(),
    );
    let token = Token::generate(Scope::Agent).unwrap();
    store
        .register_server(NewServer {
            id: ServerId::new(id).unwrap(),
            name: String::new(),
            tags: vec![],
            token_hash: token.hash(),
            created: Timestamp::now(),
        })
        .await
        .unwrap();
    (store, token)
}

/// Serves the server's router over `store` on `listener` until aborted.
fn serve(
    store: &Arc<SqlStore>,
    listener: tokio::net::TcpListener,
    limits: &LimitSettings,
) -> tokio::task::JoinHandle<()> {
    let admin = Token::generate(Scope::Admin).unwrap();
    let app = router(AppState::new(store.clone(), &admin, None).with_limits(limits));
    tokio::spawn(async move {
        monitor_server::serve::serve(
            listener,
            app,
            monitor_server::serve::ServeOptions::default(),
            std::future::pending(),
        )
        .await
        .unwrap();
    })
}

fn config(servers: &[String], token: &str, spool: &std::path::Path, max: u64) -> PushConfig {
    PushConfig {
        server: servers[0].clone(),
        failover: servers[1..].to_vec(),
        token: token.to_owned(),
        verify: None,
        spool_dir: spool.to_owned(),
        spool_max_bytes: max,
        timeout: Duration::from_secs(10),
    }
}

/// A report of `id` at `ms` with `n` samples.
fn report(id: &str, ms: i64, n: usize) -> Snapshot {
    let mut c = Collection::new();
    for i in 0..n {
        c.gauge(
            "queue_depth",
            Unit::NONE,
            Labels::new().with("queue", format!("q{i}")),
            i as f64,
        );
    }
    let mut s = Snapshot::new(ServerId::new(id).unwrap(), Timestamp::from_millis(ms), c);
    s.interval_secs = Some(5.0);
    s
}

fn files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .count()
    })
}

async fn stored(store: &SqlStore, id: &str) -> usize {
    let now = Timestamp::now();
    let h = store
        .history(&monitor_core::store::HistoryQuery {
            server_id: ServerId::new(id).unwrap(),
            metric: "queue_depth".into(),
            matchers: vec![monitor_core::LabelMatcher::equal("queue", "q0")],
            from: now.add_millis(-3_600_000),
            to: now.add_millis(60_000),
            step: Some(Duration::from_secs(1)),
            max_points: 100_000,
        })
        .await
        .unwrap();
    h.series.first().map_or(0, |s| s.points.len())
}

/// A backlog of 150 reports with one the server refuses for good (a
/// label value it does not accept) went whole to `rejected/` in batches of
/// 100: 100 reports lost for one. Now the batch is halved down to the
/// refused report, which alone is set aside and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_report_costs_only_itself() {
    let dir = common::dir("spool", "refused");
    let (store, addr, token) = server(&dir, "spool-01", LimitSettings::default()).await;
    let spool = dir.0.join("spool");
    let pusher = Pusher::new(config(
        &[format!("http://{addr}")],
        &token,
        &spool,
        64 << 20,
    ))
    .unwrap();
    let start = Timestamp::now().as_millis() - 1_000_000;
    for i in 0..150 {
        let mut s = report("spool-01", start + i * 1000, 3);
        if i == 57 {
            // What the agent's own cleaning would leave out, written as a
            // program of yours might.
            s.metrics[0].samples[1].labels = Labels::new().with("queue", "bad\u{202e}name");
        }
        pusher.spool(&s).unwrap();
    }
    let sent = pusher.flush().await.unwrap();
    assert_eq!(sent, 149);
    assert_eq!(stored(&store, "spool-01").await, 149);
    assert_eq!(files(&spool.join("rejected")), 1);
    let figures = pusher.figures();
    assert_eq!((figures.rejected, figures.backlog), (1, 0));
    // The agent says so in its own metrics.
    let mut s = report("spool-01", start, 1);
    figures.add_to(&mut s);
    assert_eq!(
        s.value("monitor_agent_rejected_total", &Labels::new()),
        Some(1.0)
    );
}

/// Reports larger than the server's body limit in batches of 100 (a host
/// with many containers) were all refused with 413 after an outage. Now
/// the batches shrink until they fit, and nothing is set aside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_too_large_for_the_server_are_split_until_they_fit() {
    let dir = common::dir("spool", "large");
    let limits = LimitSettings {
        max_body_bytes: 256 << 10,
        ..LimitSettings::default()
    };
    let (store, addr, token) = server(&dir, "spool-02", limits).await;
    let spool = dir.0.join("spool");
    let pusher = Pusher::new(config(
        &[format!("http://{addr}")],
        &token,
        &spool,
        64 << 20,
    ))
    .unwrap();
    let start = Timestamp::now().as_millis() - 1_000_000;
    // About 20 KB of JSON each: a batch of 100 inflates to 2 MB.
    for i in 0..120 {
        pusher
            .spool(&report("spool-02", start + i * 1000, 400))
            .unwrap();
    }
    assert_eq!(pusher.flush().await.unwrap(), 120);
    assert_eq!(stored(&store, "spool-02").await, 120);
    assert_eq!(files(&spool.join("rejected")), 0);
}

/// `rejected/` had no bound and stood outside the spool's: a clock that
/// kept an agent's reports refused filled the disk. Now it counts in the
/// spool's bound, and its oldest go first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_reports_stay_within_the_spool_bound() {
    let dir = common::dir("spool", "bound");
    let (_store, addr, token) = server(&dir, "spool-03", LimitSettings::default()).await;
    let spool = dir.0.join("spool");
    let max = 40 << 10;
    let pusher = Pusher::new(config(&[format!("http://{addr}")], &token, &spool, max)).unwrap();
    // Dated far in the future: every one is refused (422).
    let future = Timestamp::now().as_millis() + 86_400_000;
    for i in 0..100 {
        pusher
            .spool(&report("spool-03", future + i * 1000, 20))
            .unwrap();
        pusher.flush().await.unwrap();
    }
    let figures = pusher.figures();
    assert_eq!(figures.rejected, 100);
    assert!(figures.spool_bytes <= max, "{figures:?}");
    assert!(figures.dropped > 0, "{figures:?}");
    assert!(files(&spool.join("rejected")) < 100);
}

/// A spool that cannot be written (a full disk) made every snapshot "lost":
/// the host went dark exactly when its disk filled. Now they are held in
/// memory and sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_that_cannot_be_written_does_not_silence_the_agent() {
    let dir = common::dir("spool", "full");
    let (store, addr, token) = server(&dir, "spool-04", LimitSettings::default()).await;
    let spool = dir.0.join("spool");
    let pusher = Pusher::new(config(
        &[format!("http://{addr}")],
        &token,
        &spool,
        64 << 20,
    ))
    .unwrap();
    // The spool directory becomes a file: every write fails.
    std::fs::remove_dir_all(&spool).unwrap();
    std::fs::write(&spool, b"not a directory").unwrap();
    let start = Timestamp::now().as_millis() - 100_000;
    for i in 0..5 {
        pusher.keep(report("spool-04", start + i * 1000, 2));
    }
    assert_eq!(pusher.backlog(), 5);
    assert_eq!(pusher.flush().await.unwrap(), 5);
    assert_eq!(stored(&store, "spool-04").await, 5);
    let figures = pusher.figures();
    assert_eq!((figures.spool_failures, figures.backlog), (5, 0));
}

/// A file cut short by a crash is removed and the others are sent; a
/// temporary file an interrupted write left is removed at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_file_costs_only_itself_and_leftovers_are_cleaned() {
    let dir = common::dir("spool", "torn");
    let (store, addr, token) = server(&dir, "spool-05", LimitSettings::default()).await;
    let spool = dir.0.join("spool");
    let start = Timestamp::now().as_millis() - 100_000;
    {
        let pusher = Pusher::new(config(
            &[format!("http://{addr}")],
            &token,
            &spool,
            64 << 20,
        ))
        .unwrap();
        for i in 0..10 {
            pusher
                .spool(&report("spool-05", start + i * 1000, 2))
                .unwrap();
        }
    }
    // The newest file cut in half, and a leftover of a write in progress.
    let newest = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .max()
        .unwrap();
    let body = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &body[..body.len() / 2]).unwrap();
    std::fs::write(spool.join(".0000000000000042.json.tmp"), b"{\"vers").unwrap();
    let pusher = Pusher::new(config(
        &[format!("http://{addr}")],
        &token,
        &spool,
        64 << 20,
    ))
    .unwrap();
    assert!(!spool.join(".0000000000000042.json.tmp").exists());
    assert_eq!(pusher.flush().await.unwrap(), 9);
    assert_eq!(stored(&store, "spool-05").await, 9);
    assert_eq!(pusher.backlog(), 0);
}

/// With several servers, one that does not answer is passed over for the
/// next; while none answers, the spool keeps everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_takes_over_when_the_first_is_down() {
    let dir = common::dir("spool", "failover");
    let (store, addr, token) = server(&dir, "spool-06", LimitSettings::default()).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let spool = dir.0.join("spool");
    let pusher = Pusher::new(config(
        &[format!("http://{dead}"), format!("http://{addr}")],
        &token,
        &spool,
        64 << 20,
    ))
    .unwrap();
    let start = Timestamp::now().as_millis() - 100_000;
    for i in 0..3 {
        pusher
            .spool(&report("spool-06", start + i * 1000, 2))
            .unwrap();
    }
    assert_eq!(pusher.flush().await.unwrap(), 3);
    assert_eq!(stored(&store, "spool-06").await, 3);
    // Both down: nothing is lost.
    let all_dead = Pusher::new(config(
        &[format!("http://{dead}"), format!("http://{dead}")],
        &token,
        &dir.0.join("spool-2"),
        64 << 20,
    ))
    .unwrap();
    all_dead
        .spool(&report("spool-06", start + 10_000, 2))
        .unwrap();
    assert!(all_dead.flush().await.is_err());
    assert_eq!(all_dead.backlog(), 1);
}

/// The agent binary killed (SIGKILL) at random moments ten times while it
/// spools (its server down), then started with the server up: every
/// snapshot it had spooled is delivered, each stored once, and no
/// leftover of an interrupted write stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_while_spooling_loses_nothing_it_spooled() {
    let d = common::dir("spool", "killed");
    let (store, token) = registered(&d, "killed-01").await;
    std::fs::write(d.0.join("token"), token.expose()).unwrap();
    let port = common::free_port();
    let spool = d.0.join("spool");
    let agent = || {
        std::process::Command::new(common::AGENT)
            .args(["--server", &format!("http://127.0.0.1:{port}")])
            .args(["--server-id", "killed-01", "--token-file"])
            .arg(d.0.join("token"))
            .args(["--interval", "0.2", "--collectors", "memory", "--spool-dir"])
            .arg(&spool)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut seed = u64::try_from(Timestamp::now().as_millis()).unwrap_or(1) | 1;
    eprintln!("kill moments seeded with {seed}");
    for _ in 0..10 {
        let mut child = agent();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(300 + seed % 1200)).await;
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let spooled: Vec<i64> = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json")?.parse().ok()
        })
        .collect();
    assert!(spooled.len() >= 20, "{} snapshots spooled", spooled.len());

    // The server comes up; the agent starts again and sends its backlog.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = serve(&store, listener, &LimitSettings::default());
    let mut child = agent();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while files(&spool) > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog was not delivered: {} files left",
            files(&spool)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    server.abort();
    let leftovers: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!spool.join("rejected").exists(), "nothing was refused");
    for t in &spooled {
        let h = store
            .history(&monitor_core::store::HistoryQuery {
                server_id: ServerId::new("killed-01").unwrap(),
                metric: "memory_used_bytes".into(),
                matchers: vec![],
                from: Timestamp::from_millis(*t),
                to: Timestamp::from_millis(*t + 1),
                step: Some(Duration::from_secs(1)),
                max_points: 10,
            })
            .await
            .unwrap();
        let count: u64 = h
            .series
            .first()
            .map_or(0, |s| s.points.iter().map(|p| p.count).sum());
        assert_eq!(count, 1, "the snapshot spooled at {t}");
    }
    eprintln!(
        "ten SIGKILLs while spooling: {} snapshots spooled, all delivered once",
        spooled.len()
    );
}

/// A ten-minute outage compressed: ten minutes of one-second reports
/// (600) spooled while the server is down, each send attempt failing, then
/// replayed oldest first when it is back: all 600 stored, one per second,
/// no gap, no duplicate, the spool empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_minute_outage_is_replayed_without_gap_or_duplicate() {
    let d = common::dir("spool", "ten-minutes");
    // The server's address, with nothing listening yet.
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (store, token) = registered(&d, "outage-10").await;
    let spool = d.0.join("spool");
    let pusher = Pusher::new(config(&[url], token.expose(), &spool, 64 << 20)).unwrap();
    let start = Timestamp::now().as_millis() / 1000 * 1000 - 15 * 60_000;
    for i in 0..600 {
        pusher.keep(report("outage-10", start + i * 1000, 3));
        if i % 30 == 29 {
            assert!(pusher.flush().await.is_err(), "the server is down");
        }
    }
    assert_eq!(pusher.backlog(), 600);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = serve(&store, listener, &LimitSettings::default());
    let replayed = std::time::Instant::now();
    assert_eq!(pusher.flush().await.unwrap(), 600);
    eprintln!("600 reports replayed in {:?}", replayed.elapsed());
    assert_eq!(pusher.backlog(), 0);
    assert_eq!(files(&spool), 0);
    server.abort();
    let h = store
        .history(&monitor_core::store::HistoryQuery {
            server_id: ServerId::new("outage-10").unwrap(),
            metric: "queue_depth".into(),
            matchers: vec![monitor_core::LabelMatcher::equal("queue", "q0")],
            from: Timestamp::from_millis(start),
            to: Timestamp::from_millis(start + 600_000),
            step: Some(Duration::from_secs(1)),
            max_points: 1000,
        })
        .await
        .unwrap();
    let points = &h.series[0].points;
    assert_eq!(points.len(), 600, "one bucket a second, none missing");
    for (i, p) in points.iter().enumerate() {
        assert_eq!(p.t.as_millis(), start + i as i64 * 1000, "a gap before {i}");
        assert_eq!(p.count, 1, "second {i} stored {} times", p.count);
    }
}

/// RELIABILITY.md R3: an outage longer than the spool holds drops the
/// oldest snapshots, as many as the arithmetic says, keeps the newest, and
/// never uses more than the bound; the drop counter says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_spool_drops_the_oldest_and_counts_them() {
    let d = common::dir("spool", "bound");
    let spool = d.0.join("spool");
    let limit: u64 = 64 << 10;
    // Nothing listens there.
    let url = format!("http://127.0.0.1:{}", common::free_port());
    let pusher = Pusher::new(config(&[url], "smk_ing_unused", &spool, limit)).unwrap();
    let start = Timestamp::now().as_millis() - 3_600_000;
    let n: i64 = 400;
    for i in 0..n {
        pusher.keep(report("bound-01", start + i * 1000, 4));
        if i % 50 == 49 {
            assert!(pusher.flush().await.is_err(), "the server is down");
        }
    }
    // Every report has the same size: the bound holds floor(limit / size).
    let sizes: Vec<(i64, u64)> = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let t = e
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((t, e.metadata().ok()?.len()))
        })
        .collect();
    let size = sizes[0].1;
    assert!(sizes.iter().all(|(_, s)| *s == size), "{sizes:?}");
    let kept = (limit / size) as i64;
    let figures = pusher.figures();
    assert_eq!(sizes.len() as i64, kept, "as many as fit");
    assert_eq!(figures.dropped as i64, n - kept, "the drop counter");
    assert!(
        figures.spool_bytes <= limit,
        "{} bytes",
        figures.spool_bytes
    );
    let mut times: Vec<i64> = sizes.iter().map(|(t, _)| *t).collect();
    times.sort_unstable();
    let newest: Vec<i64> = (n - kept..n).map(|i| start + i * 1000).collect();
    assert_eq!(times, newest, "the newest are kept");
    eprintln!(
        "{n} snapshots of {size} B into a {limit} B spool: {kept} kept, {} dropped",
        figures.dropped
    );
}

/// What a fault proxy does to the connections through it.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Each chunk waits this long, both ways.
    Latency(Duration),
    /// Every other connection is reset after this many bytes from the
    /// client (mid-body).
    ResetMidBody(usize),
    /// At most this many bytes a second, both ways.
    Bandwidth(usize),
}

/// A proxy on loopback to `target` that applies `fault`.
async fn fault_proxy(target: SocketAddr, fault: Fault) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0usize;
        while let Ok((client, _)) = listener.accept().await {
            n += 1;
            let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            let reset = matches!(fault, Fault::ResetMidBody(_)) && n % 2 == 1;
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            // One direction: copies with the fault; returns when either side ends.
            async fn pipe(
                from: &mut tokio::net::tcp::OwnedReadHalf,
                to: &mut tokio::net::tcp::OwnedWriteHalf,
                fault: Fault,
                reset_after: Option<usize>,
            ) -> bool {
                let mut buf = vec![0u8; 512];
                let mut total = 0usize;
                loop {
                    let chunk = match fault {
                        Fault::Bandwidth(rate) => (rate / 10).clamp(1, 512),
                        _ => 512,
                    };
                    let Ok(read) = from.read(&mut buf[..chunk]).await else {
                        return false;
                    };
                    if read == 0 {
                        return false;
                    }
                    match fault {
                        Fault::Latency(d) => tokio::time::sleep(d).await,
                        Fault::Bandwidth(rate) => {
                            tokio::time::sleep(Duration::from_millis((read * 1000 / rate) as u64))
                                .await;
                        }
                        Fault::ResetMidBody(_) => {}
                    }
                    total += read;
                    if reset_after.is_some_and(|limit| total > limit) {
                        return true;
                    }
                    if to.write_all(&buf[..read]).await.is_err() {
                        return false;
                    }
                }
            }
            let after = match fault {
                Fault::ResetMidBody(bytes) if reset => Some(bytes),
                _ => None,
            };
            tokio::spawn(async move {
                let reset = tokio::select! {
                    r = pipe(&mut cr, &mut sw, fault, after) => r,
                    r = pipe(&mut sr, &mut cw, fault, None) => r,
                };
                if reset {
                    // SO_LINGER 0: the close is a reset, mid-request.
                    let client = cr.reunite(cw).unwrap();
                    let _ = client.set_zero_linger();
                    drop(client);
                    let server = sr.reunite(sw).unwrap();
                    let _ = server.set_zero_linger();
                }
            });
        }
    });
    addr
}

/// RELIABILITY.md R12: network faults between agent and server (2 s of
/// latency on every chunk, connections reset mid-body, a 1 KiB/s link):
/// every snapshot arrives, once. On the slow link, requests time out
/// until the agent's batches are small enough to pass within its timeout
/// (a link too slow for a whole batch made no progress at all before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_faults_lose_nothing_and_duplicate_nothing() {
    // The slow link's timeout is shorter than a whole batch takes there
    // (about 2 KiB gzipped, 2 s at 1 KiB/s).
    for (name, fault, timeout) in [
        ("latency", Fault::Latency(Duration::from_secs(2)), 8),
        ("reset", Fault::ResetMidBody(1500), 8),
        ("slow", Fault::Bandwidth(1024), 1),
    ] {
        let d = common::dir("spool", &format!("fault-{name}"));
        let (store, server, token) = server(&d, "fault-01", LimitSettings::default()).await;
        let proxy = fault_proxy(server, fault).await;
        let spool = d.0.join("spool");
        let mut cfg = config(&[format!("http://{proxy}")], &token, &spool, 64 << 20);
        cfg.timeout = Duration::from_secs(timeout);
        let pusher = Pusher::new(cfg).unwrap();
        let start = Timestamp::now().as_millis() / 1000 * 1000 - 1_800_000;
        let n = 120;
        for i in 0..n {
            pusher.keep(report("fault-01", start + i * 1000, 6));
        }
        let began = std::time::Instant::now();
        let mut failures = 0;
        while pusher.backlog() > 0 {
            assert!(
                began.elapsed() < Duration::from_secs(240),
                "{name}: {} snapshots still waiting after {failures} failed requests",
                pusher.backlog()
            );
            if pusher.flush().await.is_err() {
                failures += 1;
            }
        }
        let stored = stored(&store, "fault-01").await;
        eprintln!(
            "{name}: {n} snapshots delivered in {:?}, {failures} failed requests, {stored} stored",
            began.elapsed()
        );
        assert_eq!(stored, n as usize, "{name}: each snapshot once");
        let h = store
            .history(&monitor_core::store::HistoryQuery {
                server_id: ServerId::new("fault-01").unwrap(),
                metric: "queue_depth".into(),
                matchers: vec![monitor_core::LabelMatcher::equal("queue", "q0")],
                from: Timestamp::from_millis(start),
                to: Timestamp::from_millis(start + n * 1000),
                step: Some(Duration::from_secs(1)),
                max_points: 1000,
            })
            .await
            .unwrap();
        assert!(
            h.series[0].points.iter().all(|p| p.count == 1),
            "{name}: a snapshot stored twice"
        );
    }
}
