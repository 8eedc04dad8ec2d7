//! Run with: `cargo run -p example-embed-collectors`
//!
//! Embeds the built-in collectors in a program of your own: reads the host
//! twice a second apart (CPU % and rates are differences) and prints a
//! summary from the typed view. Docker is used when it answers.

use std::time::Duration;

use monitor_collectors::{
    CpuCollector, DiskCollector, DiskConfig, DockerCollector, DockerConfig, HostPaths,
    MemoryCollector,
};
use monitor_core::{
    CollectContext, Collection, Collector, HostMetrics, ServerId, Snapshot, Timestamp,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paths = HostPaths::default();
    let mut collectors: Vec<Box<dyn Collector>> = vec![
        Box::new(MemoryCollector::new(paths.clone())),
        Box::new(CpuCollector::new(paths.clone())),
        Box::new(DiskCollector::new(paths.clone(), DiskConfig::default())),
        Box::new(DockerCollector::new(DockerConfig::default())),
    ];
    let interval = Duration::from_secs(1);
    let mut collection = Collection::new();
    for round in 0..2 {
        if round == 1 {
            tokio::time::sleep(interval).await;
        }
        collection = Collection::new();
        let ctx = CollectContext::new(Timestamp::now(), interval);
        for collector in &mut collectors {
            match collector.collect(&ctx).await {
                Ok(part) => {
                    // A series two collectors both give is kept once.
                    for left_out in collection.merge(part) {
                        eprintln!("{}: {left_out}", collector.name());
                    }
                }
                Err(error) if round == 1 => eprintln!("{}: {error}", collector.name()),
                Err(_) => {}
            }
        }
    }
    let snapshot = Snapshot::new(ServerId::new("example")?, Timestamp::now(), collection);
    let host = HostMetrics::from_snapshot(&snapshot);
    if let Some(memory) = host.memory {
        println!(
            "memory: {:.1}% used of {} MiB",
            memory.used_percent(),
            memory.total_bytes >> 20
        );
    }
    if let Some(cpu) = &host.cpu {
        println!(
            "cpu: {:.1}% busy on {} cores, load {:?}",
            cpu.usage_percent, cpu.count, cpu.load_average
        );
    }
    for fs in &host.filesystems {
        println!(
            "{}: {}% used ({})",
            fs.mountpoint,
            fs.used_percent(),
            fs.fstype
        );
    }
    for c in &host.containers {
        println!(
            "container {}: {} cpu {:?}% memory {:?} bytes",
            c.info.name,
            c.info.state.as_str(),
            c.usage.cpu_percent.map(|p| (p * 10.0).round() / 10.0),
            c.usage.memory_usage_bytes
        );
    }
    println!("{} samples in all", snapshot.sample_count());
    Ok(())
}
