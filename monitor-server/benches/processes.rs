//! One server process against two on one PostgreSQL: simulated agents over
//! HTTPS spread over the processes, as a load balancer would, on a
//! throwaway PostgreSQL cluster (the system's `initdb`, fsync on) made
//! afresh for each phase.
//!
//! Run with: `cargo bench -p monitor-server --bench processes`
//!
//! For each of one and two processes: 10,000 hosts registered
//! (`BENCH_HOSTS`), a first report from each to every process (untimed:
//! a process's first meeting with a host is not its cost a report), saturation with
//! `BENCH_CONNECTIONS` keep-alive connections (256) for `BENCH_SECS` (15),
//! then the fleet's own rate, every host every 5 s (`BENCH_RATE`, 2,000 a
//! second), for 10 s. Each phase prints the reports a second, the latency,
//! and where the CPU went: each server process, PostgreSQL (every
//! `postgres` process) and the load generator (this process).
//!
//! Everything shares this machine's cores, so the phases run twice: with
//! the cores shared as they come, and with each server process held to
//! `BENCH_SERVER_CORES` of CPU (0.5) by a cgroup quota of its own, as if
//! each ran on a machine of its own, leaving the rest to PostgreSQL and
//! the load generator (this needs root and a writable cgroup `cpu`
//! controller, v1 or v2; skipped otherwise). The second is the answer to
//! "does a second process add capacity": the first only says that two
//! processes on the cores one already fills do not. `BENCH_SHARED=0` runs
//! only the second.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../monitor-store/tests/pg_cluster/mod.rs"]
mod pg_cluster;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::traffic::{
    Fleet, Outcome, Target, bodies, client, paced, print, register_hosts, saturate,
};
use monitor_core::Timestamp;

const ADMIN: &str = "processes-bench-admin-token-0123456789ab";

/// CPU ticks of every process named `postgres`, by pid.
fn postgres_ticks() -> HashMap<u32, u64> {
    let mut ticks = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = tail.split_whitespace().collect();
        if let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) {
            ticks.insert(
                pid,
                u.parse::<u64>().unwrap_or(0) + s.parse::<u64>().unwrap_or(0),
            );
        }
    }
    ticks
}

/// A cgroup holding processes to a CPU quota, removed when dropped (after
/// its processes ended).
struct Quota {
    dir: std::path::PathBuf,
    procs: std::path::PathBuf,
}

impl Quota {
    /// A new cgroup allowing `cores` of CPU, or `None` where cgroups
    /// cannot be made (not root, read-only, no `cpu` controller).
    fn new(name: &str, cores: f64) -> Option<Quota> {
        let period = 100_000u64;
        let quota = (cores * period as f64) as u64;
        let name = format!("monitor-bench-{name}-{}", std::process::id());
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let dir = if v2 {
            std::path::Path::new("/sys/fs/cgroup").join(name)
        } else {
            std::path::Path::new("/sys/fs/cgroup/cpu").join(name)
        };
        std::fs::create_dir(&dir).ok()?;
        let set = if v2 {
            std::fs::write(dir.join("cpu.max"), format!("{quota} {period}"))
        } else {
            std::fs::write(dir.join("cpu.cfs_period_us"), period.to_string())
                .and_then(|()| std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string()))
        };
        let procs = dir.join("cgroup.procs");
        let quota = Quota { dir, procs };
        set.ok().map(|()| quota)
    }

    /// Moves the process `pid` into the cgroup.
    fn add(&self, pid: u32) {
        std::fs::write(&self.procs, pid.to_string()).unwrap();
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Where the CPU goes during a phase.
struct Cpu {
    servers: Vec<u32>,
    servers0: Vec<u64>,
    postgres0: HashMap<u32, u64>,
    me0: u64,
    started: Instant,
}

impl Cpu {
    fn start(servers: &[u32]) -> Cpu {
        Cpu {
            servers: servers.to_vec(),
            servers0: servers.iter().map(|p| common::usage(*p).0).collect(),
            postgres0: postgres_ticks(),
            me0: common::usage(std::process::id()).0,
            started: Instant::now(),
        }
    }

    /// Prints the cores each part used on average, and per report.
    fn stop(self, reports: usize) {
        let secs = self.started.elapsed().as_secs_f64();
        let hz = rustix::param::clock_ticks_per_second() as f64;
        let cores = |ticks: u64| ticks as f64 / hz / secs;
        let per_report = |ticks: u64| ticks as f64 / hz * 1000.0 / reports.max(1) as f64;
        let mut line = String::new();
        let mut all = 0;
        for (i, (pid, t0)) in self.servers.iter().zip(&self.servers0).enumerate() {
            let t = common::usage(*pid).0 - t0;
            all += t;
            line.push_str(&format!(
                "server {}: {:.2} cores ({:.3} ms a report); ",
                i + 1,
                cores(t),
                per_report(t)
            ));
        }
        let postgres: u64 = postgres_ticks()
            .iter()
            .map(|(pid, t)| t - self.postgres0.get(pid).copied().unwrap_or(0).min(*t))
            .sum();
        let me = common::usage(std::process::id()).0 - self.me0;
        println!(
            "  CPU: {line}servers together {:.2} cores ({:.3} ms a report); PostgreSQL {:.2} cores ({:.3} ms a report); load generator {:.2} cores; total {:.2} of 2",
            cores(all),
            per_report(all),
            cores(postgres),
            per_report(postgres),
            cores(me),
            cores(all + postgres + me)
        );
    }
}

/// What one phase measured.
struct Phase {
    saturated: f64,
    p99_paced: f64,
}

/// How the phases run.
#[derive(Clone, Copy)]
struct Settings {
    hosts: usize,
    connections: usize,
    secs: u64,
    rate: usize,
}

/// Runs the phases against `n` server processes on a fresh cluster, each
/// held to `cores` of CPU when given: `None` when that cannot be done.
async fn run(n: usize, cores: Option<f64>, settings: Settings) -> Option<Phase> {
    let Settings {
        hosts: hosts_n,
        connections,
        secs,
        rate,
    } = settings;
    let quotas: Vec<Quota> = match cores {
        Some(cores) => (0..n)
            .map(|i| Quota::new(&format!("{n}-{i}"), cores))
            .collect::<Option<_>>()?,
        None => Vec::new(),
    };
    let cluster = pg_cluster::Cluster::start().expect(
        "PostgreSQL's initdb under /usr/lib/postgresql (scripts/services.sh postgres installs it)",
    );
    let servers: Vec<common::ServerProcess> = (0..n)
        .map(|i| {
            common::ServerProcess::start_on(
                &format!("processes-{n}-{i}"),
                ADMIN,
                "warn",
                Some(&cluster.url),
            )
        })
        .collect();
    for (quota, server) in quotas.iter().zip(&servers) {
        quota.add(server.pid());
    }
    let cas: Vec<&std::path::Path> = servers.iter().map(|s| s.certs.ca.as_path()).collect();
    let tls = common::tls_config_all(&cas);
    let client = client(&tls);
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("https://localhost:{}", s.port))
        .collect();
    for url in &urls {
        let deadline = Instant::now() + Duration::from_secs(60);
        while client
            .get(format!("{url}/api/health"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let targets: Vec<Target> = servers
        .iter()
        .map(|s| Target {
            tls: Arc::clone(&tls),
            addr: SocketAddr::from(([127, 0, 0, 1], s.port)),
            path: "/api/metrics".to_owned(),
        })
        .collect();
    let pids: Vec<u32> = servers.iter().map(common::ServerProcess::pid).collect();
    match cores {
        Some(cores) => {
            println!("{n} server process(es) on one PostgreSQL, each held to {cores} core(s):")
        }
        None => println!("{n} server process(es) on one PostgreSQL, sharing the cores:"),
    }
    let started = Instant::now();
    let hosts = register_hosts(&client, &urls[0], ADMIN, "host", hosts_n).await;
    println!(
        "  registered {hosts_n} hosts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let base = Timestamp::now().as_millis();
    // Every process meets every host before the clock starts, as in a
    // fleet behind a load balancer for a while: what a process does the
    // first time it meets a host (its server row, its series' ids) is not
    // what it does for each report.
    for (round, target) in targets.iter().enumerate() {
        let first = saturate(
            std::slice::from_ref(target),
            Arc::new(bodies(&hosts, hosts_n, round, base, Fleet::Steady)),
            connections,
            600,
            true,
        )
        .await;
        print(
            &format!(
                "  first report of every host to process {} (untimed warm-up)",
                round + 1
            ),
            &first,
        );
    }

    let count = secs as usize * 20_000;
    let requests = Arc::new(bodies(&hosts, count, n, base, Fleet::Steady));
    let cpu = Cpu::start(&pids);
    let saturated = saturate(&targets, requests, connections, secs, true).await;
    print(
        &format!("  saturated, {connections} connections"),
        &saturated,
    );
    cpu.stop(total(&saturated));

    let rounds = n + count.div_ceil(hosts_n) + 1;
    let cpu = Cpu::start(&pids);
    let at_rate = paced(
        &targets,
        bodies(&hosts, rate * 10, rounds, base, Fleet::Steady),
        rate,
    )
    .await;
    print(&format!("  at {rate}/s (every host every 5 s)"), &at_rate);
    cpu.stop(total(&at_rate));
    drop(servers);
    drop(cluster);
    drop(quotas);
    Some(Phase {
        saturated: saturated.ok as f64 / saturated.secs,
        p99_paced: at_rate.percentile(0.99),
    })
}

fn total(o: &Outcome) -> usize {
    o.ok + o.refused + o.errors
}

fn main() {
    let settings = Settings {
        hosts: common::env("BENCH_HOSTS", 10_000),
        connections: common::env("BENCH_CONNECTIONS", 256),
        secs: common::env("BENCH_SECS", 15) as u64,
        rate: common::env("BENCH_RATE", 2_000),
    };
    let cores = std::env::var("BENCH_SERVER_CORES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.5);
    let rt = common::runtime();
    rt.block_on(async {
        let shared = common::env("BENCH_SHARED", 1) != 0;
        let limits = [None, Some(cores)];
        for limit in &limits[usize::from(!shared)..] {
            let limit = *limit;
            let (Some(one), Some(two)) = (run(1, limit, settings).await, run(2, limit, settings).await) else {
                println!("skipped the phases with a CPU quota: no cgroup could be made (root and a writable cgroup cpu controller are needed)");
                continue;
            };
            let how = match limit {
                Some(cores) => format!("each process held to {cores} core(s)"),
                None => "sharing the cores".to_owned(),
            };
            println!(
                "two processes / one, {how}: {:.2}× the reports a second when saturated ({:.0} against {:.0}); p99 at {}/s {:.1} ms against {:.1} ms",
                two.saturated / one.saturated,
                two.saturated,
                one.saturated,
                settings.rate,
                two.p99_paced,
                one.p99_paced
            );
        }
    });
}
