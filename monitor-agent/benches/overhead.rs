//! Overhead of the agent, next to node_exporter in the same run.
//!
//! Run with: `cargo bench -p monitor-agent --bench overhead`
//! (`BENCH_RSS_SECS=60` by default; Docker and `prometheus-node-exporter`
//! are used when present: `scripts/services.sh docker node-exporter`).
//!
//! Prints, for one full host collection (system, memory, CPU, disk, network,
//! then the same with Docker and 10 containers): CPU time and wall time per
//! collection, dockerd's and containerd's CPU per collection; the agent's
//! RSS over a run at a 1 s interval; node_exporter's CPU per scrape and RSS
//! with the equivalent collectors; the cost of the sensors collector and of
//! one scan of the processes collector; and, at a realistic cadence (one
//! collection or scrape a second in a long-running process), the agent's
//! CPU per second with the original's collectors and with every default
//! one, against node_exporter's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use monitor_agent::Agent;
use monitor_collectors::HostPaths;
use monitor_core::{ServerId, wire};

fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time (user + system) of another process.
fn cpu_of(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let hz = rustix::param::clock_ticks_per_second();
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

/// CPU time of `pid`'s threads to the nanosecond: the sum of each thread's
/// `/proc/PID/task/TID/schedstat` (the `stat` file counts 10-ms ticks, as
/// coarse as the agent's whole second at one collection a second). Threads
/// that ended are not counted: the agent's and node_exporter's live as long
/// as they do.
fn precise_cpu_of(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn pids_named(names: &[&str]) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            names.contains(&comm.trim()).then_some(pid)
        })
        .collect()
}

fn agent(collectors: &[&str]) -> Agent {
    let paths = HostPaths::default();
    let mut agent = Agent::new(
        ServerId::new("bench").expect("valid id"),
        Duration::from_secs(1),
    );
    for name in collectors {
        agent = agent.with_collector(monitor_collectors::builtin(name, &paths).expect("builtin"));
    }
    agent
}

/// Mean CPU and wall time of one collection plus its JSON encoding.
async fn measure(agent: &mut Agent, rounds: u32, others: &[u32]) -> (f64, f64, f64, usize) {
    for _ in 0..3 {
        agent.collect().await;
    }
    let others_before: Duration = others.iter().map(|p| cpu_of(*p)).sum();
    let cpu_before = process_cpu();
    let wall_before = Instant::now();
    let mut samples = 0;
    for _ in 0..rounds {
        let snapshot = agent.collect().await;
        samples = snapshot.sample_count();
        std::hint::black_box(wire::encode(&snapshot).expect("encode"));
    }
    let wall = wall_before.elapsed().as_secs_f64() * 1e3 / f64::from(rounds);
    let cpu = (process_cpu() - cpu_before).as_secs_f64() * 1e3 / f64::from(rounds);
    let others_after: Duration = others.iter().map(|p| cpu_of(*p)).sum();
    let others_cpu =
        (others_after.saturating_sub(others_before)).as_secs_f64() * 1e3 / f64::from(rounds);
    (cpu, wall, others_cpu, samples)
}

fn docker_ok() -> bool {
    Command::new("docker")
        .args(["info"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn scrape(port: u16) -> usize {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect node_exporter");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("write");
    let mut body = Vec::new();
    stream.read_to_end(&mut body).expect("read");
    body.len()
}

/// Waits for `port` to accept, then scrapes it 3,000 times (after 3 warm-up
/// scrapes): CPU of `pid` and wall time per scrape in ms, bytes of the last
/// scrape, and the RSS of `pid` after them in KiB.
async fn measure_scrapes(pid: u32, port: u16) -> Option<(f64, f64, usize, u64)> {
    let mut ready = false;
    for _ in 0..50 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !ready {
        return None;
    }
    // The agent serves its newest snapshot: wait for one with CPU figures.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for _ in 0..3 {
        scrape(port);
    }
    // Enough that the CPU clock's 10-ms ticks are under 0.01 ms a scrape.
    let rounds = 3000;
    let before = cpu_of(pid);
    let wall = Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        bytes = scrape(port);
    }
    let wall = wall.elapsed().as_secs_f64() * 1e3 / rounds as f64;
    let cpu = cpu_of(pid).saturating_sub(before).as_secs_f64() * 1e3 / rounds as f64;
    Some((cpu, wall, bytes, rss_kib(pid)))
}

/// node_exporter's collectors that read what the agent's host collectors
/// read.
const NODE_EXPORTER_COLLECTORS: &[&str] = &[
    "--collector.disable-defaults",
    "--collector.meminfo",
    "--collector.cpu",
    "--collector.stat",
    "--collector.loadavg",
    "--collector.filesystem",
    "--collector.diskstats",
    "--collector.netdev",
    "--collector.uname",
];

/// `exporter` (node_exporter) on 127.0.0.1:`port` with the collectors of
/// [`NODE_EXPORTER_COLLECTORS`].
fn node_exporter(exporter: &str, port: u16) -> std::process::Child {
    Command::new(exporter)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(NODE_EXPORTER_COLLECTORS)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let host = ["system", "memory", "cpu", "disk", "network"];
    println!("== one host collection (collect + JSON encode), {host:?}");
    let mut a = agent(&host);
    let (cpu, wall, _, samples) = measure(&mut a, 2000, &[]).await;
    println!("agent: {cpu:.3} ms CPU, {wall:.3} ms wall per collection, {samples} samples");
    let ours_cpu = cpu;
    println!(
        "== the sensors collector, and a full scan of the processes collector (it scans at most every 10 s)"
    );
    let paths = HostPaths::default();
    let mut sensors = Agent::new(
        ServerId::new("bench").expect("valid id"),
        Duration::from_secs(1),
    )
    .with_collector(Box::new(monitor_collectors::SensorsCollector::new(
        paths.clone(),
    )));
    let (cpu, wall, _, samples) = measure(&mut sensors, 2000, &[]).await;
    println!("sensors: {cpu:.3} ms CPU, {wall:.3} ms wall per collection, {samples} samples");
    let processes = monitor_collectors::ProcessesCollector::new(
        paths,
        monitor_collectors::ProcessesConfig {
            top: 10,
            min_scan_interval: Duration::ZERO,
        },
    );
    let mut scans = Agent::new(
        ServerId::new("bench").expect("valid id"),
        Duration::from_secs(1),
    )
    .with_collector(Box::new(processes));
    let (cpu, wall, _, _) = measure(&mut scans, 300, &[]).await;
    let count = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0);
    println!("processes: {cpu:.3} ms CPU, {wall:.3} ms wall per scan of {count} processes");

    let containers = if docker_ok() {
        let names: Vec<String> = (0..10).map(|i| format!("monitor-bench-{i}")).collect();
        for name in &names {
            let _ = Command::new("docker").args(["rm", "-f", name]).output();
            let status = Command::new("docker")
                .args([
                    "run",
                    "-d",
                    "--name",
                    name,
                    "monitor-test-busybox:latest",
                    "sleep",
                    "3600",
                ])
                .stdout(Stdio::null())
                .status();
            if !status.is_ok_and(|s| s.success()) {
                println!(
                    "(cannot start containers: build the test image with `cargo test -p monitor-collectors --test docker` first)"
                );
                break;
            }
        }
        let daemons = pids_named(&["dockerd", "containerd"]);
        let mut with_docker: Vec<&str> = host.to_vec();
        with_docker.push("docker");
        let mut a = agent(&with_docker);
        let (cpu, wall, daemon_cpu, samples) = measure(&mut a, 300, &daemons).await;
        println!(
            "agent with Docker and 10 containers: {cpu:.3} ms CPU + {daemon_cpu:.3} ms dockerd/containerd CPU, \
             {wall:.3} ms wall per collection, {samples} samples"
        );
        a.shutdown().await;
        names
    } else {
        println!("(no Docker engine: container figures skipped)");
        Vec::new()
    };

    let secs: u64 = std::env::var("BENCH_RSS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    println!(
        "== agent process at a 1 s interval for {secs} s, {} containers: the host collectors, with the new ones, every default one",
        containers.len()
    );
    let host = "system,memory,cpu,disk,network";
    let original = agent_process(&["--collectors", host], secs).await;
    let more = format!("{host},sensors,processes,smart");
    let extended = agent_process(&["--collectors", &more], secs).await;
    let everything = agent_process(&[], secs).await;
    for (what, (cpu_per_sec, last_rss, max_rss)) in [
        (host, original),
        (more.as_str(), extended),
        ("every default collector, Docker included", everything),
    ] {
        println!(
            "agent {what}: RSS {:.1} MiB at the end, {:.1} MiB at most; {:.3}% of one core ({cpu_per_sec:.2} ms CPU per second)",
            last_rss as f64 / 1024.0,
            max_rss as f64 / 1024.0,
            cpu_per_sec / 10.0,
        );
    }
    for name in &containers {
        let _ = Command::new("docker").args(["rm", "-f", name]).output();
    }
    let last_rss = everything.1;

    let exporter = [
        "/usr/bin/prometheus-node-exporter",
        "/usr/bin/node_exporter",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists());
    let Some(exporter) = exporter else {
        println!("(prometheus-node-exporter not installed: reference figures skipped)");
        return;
    };
    println!(
        "== node_exporter with the same collectors (meminfo, cpu, stat, loadavg, filesystem, diskstats, netdev, uname)"
    );
    let port = free_port();
    let mut ne = node_exporter(exporter, port);
    let ne_pid = ne.id();
    let reference = measure_scrapes(ne_pid, port).await;
    let _ = ne.kill();
    let _ = ne.wait();
    let Some((ne_cpu, ne_wall, ne_bytes, ne_rss)) = reference else {
        println!("(node_exporter did not start)");
        return;
    };
    println!(
        "node_exporter: {ne_cpu:.3} ms CPU, {ne_wall:.3} ms wall per scrape ({ne_bytes} bytes), RSS {:.1} MiB",
        ne_rss as f64 / 1024.0
    );
    println!(
        "ratios: agent/node_exporter CPU per collection {:.3}, RSS {:.3}",
        ours_cpu / ne_cpu.max(1e-9),
        last_rss as f64 / ne_rss.max(1) as f64
    );

    println!(
        "== the agent's own /metrics (--listen), scraped the same way, host collectors at 1 s"
    );
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_monitor-agent"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--interval", "1"])
        .args(["--collectors", "system,memory,cpu,disk,network"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start agent");
    let measured = measure_scrapes(child.id(), port).await;
    let _ = child.kill();
    let _ = child.wait();
    match measured {
        Some((cpu, wall, bytes, rss)) => {
            println!(
                "agent --listen: {cpu:.3} ms CPU, {wall:.3} ms wall per scrape ({bytes} bytes), RSS {:.1} MiB",
                rss as f64 / 1024.0
            );
            println!(
                "ratios: agent/node_exporter CPU per scrape {:.3}, RSS {:.3}",
                cpu / ne_cpu.max(1e-9),
                rss as f64 / ne_rss.max(1) as f64
            );
        }
        None => println!("(the agent's endpoint did not answer)"),
    }

    println!("== node_exporter scraped once a second for {secs} s (the agent's cadence above)");
    let port = free_port();
    let mut ne = node_exporter(exporter, port);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ne_per_sec, _, _) = per_second(ne.id(), secs, || {
        scrape(port);
    })
    .await;
    let _ = ne.kill();
    let _ = ne.wait();
    println!("node_exporter: {ne_per_sec:.2} ms CPU per second");
    println!(
        "ratios: agent/node_exporter CPU per second {:.3} (host collectors), {:.3} (with sensors, processes, smart), {:.3} (with Docker and its containers too)",
        original.0 / ne_per_sec.max(1e-9),
        extended.0 / ne_per_sec.max(1e-9),
        everything.0 / ne_per_sec.max(1e-9),
    );
}

/// `monitor-agent --stdout --interval 1` with `args`, measured over `secs`
/// s after 2 s of warm-up: CPU per second in ms, RSS at the end and at
/// most in KiB.
async fn agent_process(args: &[&str], secs: u64) -> (f64, u64, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_monitor-agent"))
        .args(["--stdout", "--interval", "1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start agent");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let measured = per_second(child.id(), secs, || {}).await;
    let _ = child.kill();
    let _ = child.wait();
    measured
}

/// CPU per second (ms) of `pid` over `secs` s, calling `each_second` once a
/// second; its RSS at the end and at most (KiB).
async fn per_second(pid: u32, secs: u64, mut each_second: impl FnMut()) -> (f64, u64, u64) {
    let start = precise_cpu_of(pid);
    let mut last = 0;
    let mut max = 0;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.tick().await;
    for _ in 0..secs {
        ticks.tick().await;
        each_second();
        last = rss_kib(pid);
        max = max.max(last);
    }
    let cpu = precise_cpu_of(pid).saturating_sub(start);
    (cpu.as_secs_f64() * 1e3 / secs as f64, last, max)
}
