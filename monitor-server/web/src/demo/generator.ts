// Synthetic data for `?demo=1`: a small fleet whose every value is a pure
// function of the series and the instant (smooth seeded noise, a daily
// cycle, weekly reboots, outages), so that history, series lists and live
// snapshots agree with each other, and tests get the same numbers each run.

import type { HistoryRequest } from '../lib/api';
import { seriesKey, summarize } from '../lib/snapshot';
import type {
  ContainerHealth,
  ContainerInfo,
  ContainerState,
  HistoryView,
  Labels,
  MetricFamily,
  MetricKind,
  Point,
  ProcessInfo,
  Sample,
  Series,
  SeriesInfo,
  ServerView,
  Snapshot,
  Thresholds,
  Unit,
} from '../lib/types';

/** The demo agents' collection interval, in seconds. */
export const DEMO_INTERVAL = 5;

/** The thresholds the demo starts with. */
export const DEMO_THRESHOLDS: Thresholds = {
  cpu_total_percent: 85,
  memory_used_percent: 90,
  disk_used_percent: 90,
};

const MIB = 1024 ** 2;
const GIB = 1024 ** 3;
const DAY = 86_400;
const WEEK = 7 * DAY;

// ---- deterministic noise -------------------------------------------------

/** FNV-1a of a text: the seed of a series. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A uniform number in [0, 1) from a seed and an integer. */
function hash01(seed: number, k: number): number {
  let h = (seed ^ Math.imul(k | 0, 0x9e3779b1) ^ Math.imul(Math.floor(k / 4294967296), 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** Smooth noise in [0, 1): random values every `period` seconds, eased in between. */
function smoothNoise(seed: number, t: number, period: number): number {
  const x = t / period;
  const k = Math.floor(x);
  const f = x - k;
  const ease = f * f * (3 - 2 * f);
  return hash01(seed, k) * (1 - ease) + hash01(seed, k + 1) * ease;
}

/** Noise in [0, 1) with slow, medium and fast movements. */
function wave(seed: number, t: number): number {
  return 0.5 * smoothNoise(seed, t, 3600) + 0.3 * smoothNoise(seed + 1, t, 600) + 0.2 * smoothNoise(seed + 2, t, 60);
}

/** The daily cycle in [0, 1], highest at 14:00 UTC. */
function daily(t: number): number {
  return 0.5 - 0.5 * Math.cos((2 * Math.PI * ((t - 2 * 3600) % DAY)) / DAY);
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * A counter that grows about `rate` per second since `since`, smoothly
 * uneven but never decreasing (the noise term's slope stays below `rate`).
 */
function counter(seed: number, t: number, since: number, rate: number): number {
  return Math.round(rate * (t - since) + rate * 300 * (smoothNoise(seed, t, 600) - smoothNoise(seed, since, 600)));
}

// ---- the fleet -------------------------------------------------------------

interface DiskDef {
  mountpoint: string;
  device: string;
  fstype: string;
  sizeBytes: number;
  /** Used fraction after the monthly clean-up, and its growth over 30 days. */
  fill: number;
  growth: number;
}

interface ContainerDef {
  name: string;
  image: string;
  state: ContainerState;
  health?: ContainerHealth;
  restarts: number;
  exitCode?: number;
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes: number;
}

interface PluginDef {
  name: string;
  kind: MetricKind;
  unit: Unit;
  help: string;
  labelName: string | null;
  labelValues: string[];
  /** Gauge level, or counter rate per second. */
  level: number;
}

interface ProcessDef {
  pid: number;
  name: string;
  user: string;
  /** Empty for a kernel thread. */
  command: string;
  /** Mean CPU, in percent of one core. */
  cpuPercent: number;
  rssBytes: number;
}

interface ServerDef {
  id: string;
  name: string;
  tags: string[];
  hostname: string;
  os: string;
  kernel: string;
  cores: number;
  memoryBytes: number;
  /** Mean CPU use and the daily swing on top, in percent. */
  cpu: number;
  cpuSwing: number;
  /** Used memory fraction. */
  memory: number;
  disks: DiskDef[];
  interfaces: { name: string; bytesPerSecond: number }[];
  devices: string[];
  containers: ContainerDef[] | null;
  /** Every process that may make the agent's top lists. */
  processes: ProcessDef[];
  plugins: PluginDef[];
  /** True while the server sends nothing (relative to the current time `now`). */
  down: (t: number, now: number) => boolean;
  /** Offset of its weekly reboot in the week. */
  rebootOffset: number;
}

const never = () => false;

const rootDisk = (sizeGiB: number, fill: number, growth = 0.04): DiskDef => ({
  mountpoint: '/',
  device: '/dev/vda1',
  fstype: 'ext4',
  sizeBytes: sizeGiB * GIB,
  fill,
  growth,
});

const webContainers = (unhealthyApi: boolean): ContainerDef[] => [
  { name: 'nginx', image: 'nginx:1.27', state: 'running', health: 'healthy', restarts: 0, cpuPercent: 4, memoryBytes: 48e6, memoryLimitBytes: 512e6 },
  {
    name: 'api',
    image: 'ghcr.io/example/api:2.14.1',
    state: 'running',
    health: unhealthyApi ? 'unhealthy' : 'healthy',
    restarts: unhealthyApi ? 3 : 0,
    cpuPercent: 22,
    memoryBytes: 610e6,
    memoryLimitBytes: 2 * GIB,
  },
  { name: 'worker', image: 'ghcr.io/example/api:2.14.1', state: 'running', restarts: 1, cpuPercent: 12, memoryBytes: 420e6, memoryLimitBytes: 2 * GIB },
];

/**
 * What runs on every host: init, a kernel thread (busier where much is
 * written), the system daemons, the agent, and Docker's daemons.
 */
const systemProcesses = (docker: boolean, kworkerCpu = 1.5): ProcessDef[] => [
  { pid: 1, name: 'systemd', user: 'root', command: '/sbin/init', cpuPercent: 0.1, rssBytes: 13 * MIB },
  { pid: 127, name: 'kworker/0:1', user: 'root', command: '', cpuPercent: kworkerCpu, rssBytes: 0 },
  { pid: 402, name: 'systemd-journal', user: 'root', command: '/lib/systemd/systemd-journald', cpuPercent: 0.2, rssBytes: 41 * MIB },
  { pid: 688, name: 'cron', user: 'root', command: '/usr/sbin/cron -f', cpuPercent: 0.01, rssBytes: 3 * MIB },
  { pid: 731, name: 'sshd', user: 'root', command: 'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups', cpuPercent: 0.02, rssBytes: 9 * MIB },
  { pid: 905, name: 'monitor-agent', user: 'monitor', command: '/usr/local/bin/monitor-agent --config /etc/monitor/agent.toml', cpuPercent: 0.6, rssBytes: 15 * MIB },
  ...(docker
    ? [
        { pid: 944, name: 'containerd', user: 'root', command: '/usr/bin/containerd', cpuPercent: 0.4, rssBytes: 52 * MIB },
        { pid: 1012, name: 'dockerd', user: 'root', command: '/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock', cpuPercent: 0.7, rssBytes: 98 * MIB },
      ]
    : []),
];

// A container's processes run as users the host does not know: the uid in digits.
const webProcesses = (redis: boolean): ProcessDef[] => [
  ...systemProcesses(true),
  { pid: 2101, name: 'nginx', user: 'root', command: 'nginx: master process nginx -g daemon off;', cpuPercent: 0.1, rssBytes: 11 * MIB },
  ...[2140, 2141, 2142, 2143].map((pid) => ({ pid, name: 'nginx', user: '101', command: 'nginx: worker process', cpuPercent: 1, rssBytes: 14 * MIB })),
  { pid: 2310, name: 'node', user: '1000', command: 'node --max-old-space-size=1536 dist/server.js', cpuPercent: 22, rssBytes: 560 * MIB },
  { pid: 2388, name: 'node', user: '1000', command: 'node dist/worker.js --queue default --queue mail', cpuPercent: 12, rssBytes: 390 * MIB },
  ...(redis ? [{ pid: 2450, name: 'redis-server', user: '999', command: 'redis-server *:6379', cpuPercent: 2, rssBytes: 88 * MIB }] : []),
];

const postgres = (pid: number, command: string, cpuPercent: number, rssBytes: number): ProcessDef => ({
  pid,
  name: 'postgres',
  user: '999',
  command,
  cpuPercent,
  rssBytes,
});

const rustc = (pid: number, crate: string, cpuPercent: number, rssBytes: number): ProcessDef => ({
  pid,
  name: 'rustc',
  user: 'root',
  command: `/usr/local/rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/bin/rustc --crate-name ${crate} --edition=2024 --crate-type lib -C opt-level=3 -C codegen-units=16`,
  cpuPercent,
  rssBytes,
});

const SERVERS: readonly ServerDef[] = [
  {
    id: 'web-01',
    name: 'Web 01',
    tags: ['prod', 'web'],
    hostname: 'web-01.example.net',
    os: 'Debian GNU/Linux 12 (bookworm)',
    kernel: '6.1.0-18-amd64',
    cores: 4,
    memoryBytes: 8 * GIB,
    cpu: 28,
    cpuSwing: 30,
    memory: 0.58,
    disks: [rootDisk(80, 0.52), { mountpoint: '/var/lib/docker', device: '/dev/vdb1', fstype: 'xfs', sizeBytes: 200 * GIB, fill: 0.41, growth: 0.08 }],
    interfaces: [{ name: 'eth0', bytesPerSecond: 3.2e6 }],
    devices: ['vda', 'vdb'],
    containers: [
      ...webContainers(false),
      { name: 'redis', image: 'redis:7.4-alpine', state: 'running', restarts: 0, cpuPercent: 2, memoryBytes: 96e6, memoryLimitBytes: 8 * GIB },
      { name: 'migrations', image: 'ghcr.io/example/api:2.14.1', state: 'exited', restarts: 0, exitCode: 0, cpuPercent: 0, memoryBytes: 0, memoryLimitBytes: 0 },
    ],
    processes: webProcesses(true),
    plugins: [
      { name: 'queue_depth', kind: 'gauge', unit: 'count', help: 'Jobs waiting in a queue.', labelName: 'queue', labelValues: ['mail', 'webhooks'], level: 40 },
      { name: 'app_requests_total', kind: 'counter', unit: 'count', help: 'HTTP requests served.', labelName: null, labelValues: [''], level: 180 },
    ],
    down: never,
    rebootOffset: 2 * DAY + 3 * 3600,
  },
  {
    id: 'web-02',
    name: 'Web 02',
    tags: ['prod', 'web'],
    hostname: 'web-02.example.net',
    os: 'Debian GNU/Linux 12 (bookworm)',
    kernel: '6.1.0-18-amd64',
    cores: 4,
    memoryBytes: 8 * GIB,
    cpu: 24,
    cpuSwing: 26,
    memory: 0.63,
    disks: [rootDisk(80, 0.48)],
    interfaces: [{ name: 'eth0', bytesPerSecond: 2.7e6 }],
    devices: ['vda'],
    containers: webContainers(true),
    processes: webProcesses(false),
    plugins: [],
    // Its agent stops for 15 minutes every 8 hours: gaps in every chart.
    down: (t) => t % (8 * 3600) >= 10_000 && t % (8 * 3600) < 10_900,
    rebootOffset: 2 * DAY + 4 * 3600,
  },
  {
    id: 'db-01',
    name: 'Database',
    tags: ['prod', 'db'],
    hostname: 'db-01.example.net',
    os: 'Ubuntu 24.04.1 LTS',
    kernel: '6.8.0-45-generic',
    cores: 8,
    memoryBytes: 32 * GIB,
    cpu: 38,
    cpuSwing: 25,
    memory: 0.92,
    disks: [rootDisk(40, 0.35, 0.01), { mountpoint: '/var/lib/postgresql', device: '/dev/nvme1n1', fstype: 'xfs', sizeBytes: 1024 * GIB, fill: 0.66, growth: 0.05 }],
    interfaces: [
      { name: 'eth0', bytesPerSecond: 6.5e6 },
      { name: 'eth1', bytesPerSecond: 1.1e6 },
    ],
    devices: ['nvme0n1', 'nvme1n1'],
    containers: [
      { name: 'postgres', image: 'postgres:17', state: 'running', health: 'healthy', restarts: 0, cpuPercent: 140, memoryBytes: 22 * GIB, memoryLimitBytes: 32 * GIB },
      { name: 'pgbouncer', image: 'edoburu/pgbouncer:1.23', state: 'running', restarts: 0, cpuPercent: 3, memoryBytes: 20e6, memoryLimitBytes: 32 * GIB },
    ],
    processes: [
      ...systemProcesses(true, 4),
      postgres(1893, 'postgres -c shared_buffers=8GB -c max_connections=200', 0.2, 210 * MIB),
      postgres(1951, 'postgres: checkpointer', 1.2, 6.4 * GIB),
      postgres(1952, 'postgres: background writer', 0.8, 3.9 * GIB),
      postgres(1954, 'postgres: walwriter', 0.9, 130 * MIB),
      postgres(1955, 'postgres: autovacuum launcher', 0.1, 24 * MIB),
      postgres(8123, 'postgres: app app 172.18.0.3(40512) SELECT', 38, 2.3 * GIB),
      postgres(8127, 'postgres: app app 172.18.0.3(40520) idle', 26, 2.1 * GIB),
      postgres(8140, 'postgres: app app 172.18.0.3(40588) UPDATE', 21, 1.7 * GIB),
      postgres(8152, 'postgres: app app 172.18.0.3(40602) idle', 14, 1.2 * GIB),
      postgres(9310, 'postgres: analytics analytics 10.0.4.20(52210) SELECT', 31, 3.1 * GIB),
      postgres(9377, 'postgres: autovacuum worker app', 7, 410 * MIB),
      { pid: 2040, name: 'pgbouncer', user: '70', command: 'pgbouncer /etc/pgbouncer/pgbouncer.ini', cpuPercent: 3, rssBytes: 19 * MIB },
    ],
    plugins: [
      { name: 'postgres_connections', kind: 'gauge', unit: 'count', help: 'Open connections per database.', labelName: 'database', labelValues: ['app', 'analytics'], level: 60 },
    ],
    down: never,
    rebootOffset: 6 * DAY + 5 * 3600,
  },
  {
    id: 'cache-01',
    name: 'Cache',
    tags: ['prod'],
    hostname: 'cache-01.example.net',
    os: 'Rocky Linux 9.4 (Blue Onyx)',
    kernel: '5.14.0-427.el9.x86_64',
    cores: 2,
    memoryBytes: 4 * GIB,
    cpu: 9,
    cpuSwing: 8,
    memory: 0.71,
    disks: [rootDisk(20, 0.3, 0.01)],
    interfaces: [{ name: 'ens3', bytesPerSecond: 9e5 }],
    devices: ['vda'],
    containers: null,
    processes: [
      ...systemProcesses(false),
      { pid: 1187, name: 'redis-server', user: 'redis', command: '/usr/bin/redis-server 127.0.0.1:6379', cpuPercent: 7, rssBytes: 2.4 * GIB },
      { pid: 1203, name: 'memcached', user: 'memcached', command: '/usr/bin/memcached -p 11211 -u memcached -m 512 -c 1024 -l 127.0.0.1', cpuPercent: 1.6, rssBytes: 470 * MIB },
    ],
    plugins: [],
    down: never,
    rebootOffset: 3 * DAY,
  },
  {
    id: 'build-01',
    name: 'CI runner',
    tags: ['ci'],
    hostname: 'build-01.example.net',
    os: 'Debian GNU/Linux 12 (bookworm)',
    kernel: '6.1.0-18-amd64',
    cores: 16,
    memoryBytes: 64 * GIB,
    cpu: 50,
    cpuSwing: 45,
    memory: 0.45,
    disks: [rootDisk(500, 0.88, 0.06)],
    interfaces: [{ name: 'eth0', bytesPerSecond: 1.2e7 }],
    devices: ['vda'],
    containers: [
      { name: 'runner', image: 'gitlab/gitlab-runner:v17.5.0', state: 'running', restarts: 0, cpuPercent: 6, memoryBytes: 150e6, memoryLimitBytes: 64 * GIB },
      { name: 'build-7731', image: 'rust:1.95', state: 'running', restarts: 0, cpuPercent: 800, memoryBytes: 9 * GIB, memoryLimitBytes: 64 * GIB },
    ],
    processes: [
      ...systemProcesses(true),
      { pid: 1420, name: 'gitlab-runner', user: 'root', command: 'gitlab-runner run --user=gitlab-runner --working-directory=/home/gitlab-runner', cpuPercent: 1.4, rssBytes: 118 * MIB },
      { pid: 30711, name: 'cargo', user: 'root', command: 'cargo build --release --locked --workspace', cpuPercent: 3, rssBytes: 240 * MIB },
      rustc(31022, 'monitor_server', 310, 2.6 * GIB),
      rustc(31047, 'monitor_store', 240, 1.9 * GIB),
      rustc(31090, 'monitor_collectors', 160, 1.2 * GIB),
      { pid: 31115, name: 'cc', user: 'root', command: 'cc -O3 -ffunction-sections -fdata-sections -fPIC -m64 -c sqlite3/sqlite3.c -o libsqlite3.o', cpuPercent: 95, rssBytes: 310 * MIB },
    ],
    plugins: [],
    down: never,
    rebootOffset: 1 * DAY,
  },
  {
    id: 'backup-01',
    name: 'Backup',
    tags: ['backup'],
    hostname: 'backup-01.example.net',
    os: 'Debian GNU/Linux 11 (bullseye)',
    kernel: '5.10.0-28-amd64',
    cores: 2,
    memoryBytes: 4 * GIB,
    cpu: 6,
    cpuSwing: 20,
    memory: 0.4,
    disks: [rootDisk(20, 0.4, 0.01), { mountpoint: '/srv/backup', device: '/dev/sdb1', fstype: 'ext4', sizeBytes: 4096 * GIB, fill: 0.7, growth: 0.1 }],
    interfaces: [{ name: 'eth0', bytesPerSecond: 4e5 }],
    devices: ['sda', 'sdb'],
    containers: null,
    processes: [
      ...systemProcesses(false),
      { pid: 1033, name: 'master', user: 'root', command: '/usr/lib/postfix/sbin/master -w', cpuPercent: 0.05, rssBytes: 6 * MIB },
      { pid: 2210, name: 'restic', user: 'root', command: 'restic backup --repo /srv/backup/restic --exclude-caches /etc /home /var/lib', cpuPercent: 42, rssBytes: 780 * MIB },
    ],
    plugins: [],
    // Silent since two hours before the start of the current hour.
    down: (t, now) => t >= Math.floor(now / 3600) * 3600 - 2 * 3600,
    rebootOffset: 4 * DAY,
  },
];

/** The ids of the demo servers, in display order. */
export const DEMO_SERVER_IDS: readonly string[] = SERVERS.map((s) => s.id);

function serverDef(id: string): ServerDef | undefined {
  return SERVERS.find((s) => s.id === id);
}

function bootTime(def: ServerDef, t: number): number {
  return Math.floor((t - def.rebootOffset) / WEEK) * WEEK + def.rebootOffset;
}

// ---- metric families --------------------------------------------------------

interface FamilyDef {
  name: string;
  kind: MetricKind;
  unit: Unit;
  help?: string;
  samples: (def: ServerDef, t: number) => Sample[];
}

const single = (value: number): Sample[] => [{ value }];

function cpuCore(def: ServerDef, core: number, t: number): number {
  const seed = seedOf(`${def.id}/cpu/${core}`);
  const level = def.cpu + def.cpuSwing * (daily(t) - 0.5) + 40 * (wave(seed, t) - 0.5);
  return clamp(level, 0.5, 100);
}

function cpuTotal(def: ServerDef, t: number): number {
  let sum = 0;
  for (let c = 0; c < def.cores; c++) sum += cpuCore(def, c, t);
  return sum / def.cores;
}

/** Memory in bytes: used, cached, buffers, free (they add up to the total). */
function memory(def: ServerDef, t: number): { used: number; cached: number; buffers: number; free: number } {
  const total = def.memoryBytes;
  const used = total * clamp(def.memory + 0.06 * (wave(seedOf(`${def.id}/mem`), t) - 0.5), 0.05, 0.97);
  const buffers = total * 0.02;
  const cached = Math.max(0, (total - used - buffers) * (0.55 + 0.3 * wave(seedOf(`${def.id}/cache`), t)));
  const free = Math.max(0, total - used - buffers - cached);
  return { used: Math.round(used), cached: Math.round(cached), buffers: Math.round(buffers), free: Math.round(free) };
}

/** A filesystem's used bytes: grows through each 30 days, then a clean-up. */
function diskUsed(def: ServerDef, disk: DiskDef, t: number): number {
  const phase = (t % (30 * DAY)) / (30 * DAY);
  const jitter = 0.002 * smoothNoise(seedOf(`${def.id}${disk.mountpoint}`), t, 600);
  return Math.round(disk.sizeBytes * clamp(disk.fill + disk.growth * phase + jitter, 0, 0.95));
}

const diskLabels = (d: DiskDef): Labels => ({ device: d.device, fstype: d.fstype, mountpoint: d.mountpoint });

function netRate(def: ServerDef, iface: string, direction: string, base: number, t: number): number {
  const seed = seedOf(`${def.id}/${iface}/${direction}`);
  return Math.round(base * (0.3 + 0.7 * daily(t)) * (0.4 + 1.2 * wave(seed, t)));
}

function running(c: ContainerDef): boolean {
  return c.state === 'running';
}

function containerCpu(def: ServerDef, c: ContainerDef, t: number): number {
  return c.cpuPercent * (0.4 + 1.2 * wave(seedOf(`${def.id}/${c.name}/cpu`), t));
}

function containerMemory(def: ServerDef, c: ContainerDef, t: number): number {
  return Math.round(c.memoryBytes * (0.9 + 0.2 * wave(seedOf(`${def.id}/${c.name}/mem`), t)));
}

/** Samples of the running containers only, as the Docker collector reports usage. */
function perRunning(def: ServerDef, value: (c: ContainerDef) => number): Sample[] {
  return (def.containers ?? []).filter(running).map((c) => ({ labels: { name: c.name }, value: value(c) }));
}

const FAMILIES: readonly FamilyDef[] = [
  { name: 'cpu_logical_cores', kind: 'gauge', unit: 'count', samples: (d) => single(d.cores) },
  {
    name: 'cpu_usage_percent',
    kind: 'gauge',
    unit: 'percent',
    samples: (d, t) => [
      { value: cpuTotal(d, t) },
      ...Array.from({ length: d.cores }, (_, c) => ({ labels: { cpu: String(c) }, value: cpuCore(d, c, t) })),
    ],
  },
  { name: 'cpu_user_percent', kind: 'gauge', unit: 'percent', samples: (d, t) => single(cpuTotal(d, t) * 0.72) },
  { name: 'cpu_system_percent', kind: 'gauge', unit: 'percent', samples: (d, t) => single(cpuTotal(d, t) * 0.21) },
  {
    name: 'cpu_iowait_percent',
    kind: 'gauge',
    unit: 'percent',
    samples: (d, t) => single(4 * wave(seedOf(`${d.id}/iowait`), t)),
  },
  { name: 'cpu_steal_percent', kind: 'gauge', unit: 'percent', samples: (d, t) => single(0.6 * smoothNoise(seedOf(`${d.id}/steal`), t, 900)) },
  ...(['1m', '5m', '15m'] as const).map((w, i): FamilyDef => ({
    name: `load_average_${w}`,
    kind: 'gauge',
    unit: '',
    // Longer windows follow the CPU from further back, more smoothly.
    samples: (d, t) => single(Math.round(((cpuTotal(d, t - 60 * i * i) / 100) * d.cores * 1.1 + 0.05) * 100) / 100),
  })),
  { name: 'memory_total_bytes', kind: 'gauge', unit: 'bytes', samples: (d) => single(d.memoryBytes) },
  { name: 'memory_used_bytes', kind: 'gauge', unit: 'bytes', samples: (d, t) => single(memory(d, t).used) },
  { name: 'memory_cached_bytes', kind: 'gauge', unit: 'bytes', samples: (d, t) => single(memory(d, t).cached) },
  { name: 'memory_buffers_bytes', kind: 'gauge', unit: 'bytes', samples: (d, t) => single(memory(d, t).buffers) },
  { name: 'memory_free_bytes', kind: 'gauge', unit: 'bytes', samples: (d, t) => single(memory(d, t).free) },
  {
    name: 'memory_available_bytes',
    kind: 'gauge',
    unit: 'bytes',
    samples: (d, t) => single(d.memoryBytes - memory(d, t).used),
  },
  {
    name: 'memory_used_percent',
    kind: 'gauge',
    unit: 'percent',
    samples: (d, t) => single((memory(d, t).used / d.memoryBytes) * 100),
  },
  { name: 'swap_total_bytes', kind: 'gauge', unit: 'bytes', samples: () => single(2 * GIB) },
  {
    name: 'swap_used_bytes',
    kind: 'gauge',
    unit: 'bytes',
    samples: (d, t) => single(Math.round(GIB * 0.1 * (1 + smoothNoise(seedOf(`${d.id}/swap`), t, 7200)))),
  },
  {
    name: 'filesystem_size_bytes',
    kind: 'gauge',
    unit: 'bytes',
    samples: (d) => d.disks.map((k) => ({ labels: diskLabels(k), value: k.sizeBytes })),
  },
  {
    name: 'filesystem_used_bytes',
    kind: 'gauge',
    unit: 'bytes',
    samples: (d, t) => d.disks.map((k) => ({ labels: diskLabels(k), value: diskUsed(d, k, t) })),
  },
  {
    name: 'filesystem_avail_bytes',
    kind: 'gauge',
    unit: 'bytes',
    // 5 % is reserved for root, as ext4 does.
    samples: (d, t) => d.disks.map((k) => ({ labels: diskLabels(k), value: Math.round(k.sizeBytes * 0.95) - diskUsed(d, k, t) })),
  },
  {
    name: 'filesystem_used_percent',
    kind: 'gauge',
    unit: 'percent',
    samples: (d, t) =>
      d.disks.map((k) => {
        const used = diskUsed(d, k, t);
        const avail = Math.round(k.sizeBytes * 0.95) - used;
        return { labels: diskLabels(k), value: Math.ceil((used / (used + avail)) * 100) };
      }),
  },
  ...(['read', 'written'] as const).map(
    (dir): FamilyDef => ({
      name: `disk_${dir}_bytes_per_second`,
      kind: 'gauge',
      unit: 'bytes_per_second',
      samples: (d, t) =>
        d.devices.map((dev) => ({ labels: { device: dev }, value: netRate(d, dev, dir, dir === 'read' ? 2.5e6 : 1.4e6, t) })),
    }),
  ),
  ...(['receive', 'transmit'] as const).flatMap((dir): FamilyDef[] => [
    {
      name: `network_${dir}_bytes_per_second`,
      kind: 'gauge',
      unit: 'bytes_per_second',
      samples: (d, t) =>
        d.interfaces.map((i) => ({
          labels: { interface: i.name },
          value: netRate(d, i.name, dir, dir === 'receive' ? i.bytesPerSecond : i.bytesPerSecond * 0.6, t),
        })),
    },
    {
      name: `network_${dir}_bytes_total`,
      kind: 'counter',
      unit: 'bytes',
      samples: (d, t) =>
        d.interfaces.map((i) => ({
          labels: { interface: i.name },
          value: counter(seedOf(`${d.id}/${i.name}/${dir}/total`), t, bootTime(d, t), i.bytesPerSecond * (dir === 'receive' ? 0.65 : 0.4)),
        })),
    },
  ]),
  { name: 'system_uptime_seconds', kind: 'gauge', unit: 'seconds', samples: (d, t) => single(Math.round(t - bootTime(d, t))) },
  { name: 'system_boot_time_seconds', kind: 'gauge', unit: 'seconds', samples: (d, t) => single(bootTime(d, t)) },
  {
    name: 'container_running',
    kind: 'gauge',
    unit: '',
    samples: (d) => (d.containers ?? []).map((c) => ({ labels: { name: c.name }, value: running(c) ? 1 : 0 })),
  },
  {
    name: 'container_healthy',
    kind: 'gauge',
    unit: '',
    samples: (d) =>
      (d.containers ?? []).flatMap((c) =>
        c.health ? [{ labels: { name: c.name }, value: c.health === 'healthy' ? 1 : c.health === 'starting' ? 0.5 : 0 }] : [],
      ),
  },
  {
    name: 'container_restarts_total',
    kind: 'counter',
    unit: 'count',
    samples: (d) => (d.containers ?? []).map((c) => ({ labels: { name: c.name }, value: c.restarts })),
  },
  { name: 'container_cpu_percent', kind: 'gauge', unit: 'percent', samples: (d, t) => perRunning(d, (c) => containerCpu(d, c, t)) },
  {
    name: 'container_memory_usage_bytes',
    kind: 'gauge',
    unit: 'bytes',
    samples: (d, t) => perRunning(d, (c) => containerMemory(d, c, t)),
  },
  { name: 'container_memory_limit_bytes', kind: 'gauge', unit: 'bytes', samples: (d) => perRunning(d, (c) => c.memoryLimitBytes) },
  {
    name: 'container_memory_percent',
    kind: 'gauge',
    unit: 'percent',
    samples: (d, t) => perRunning(d, (c) => (containerMemory(d, c, t) / c.memoryLimitBytes) * 100),
  },
  ...(['receive', 'transmit'] as const).map(
    (dir): FamilyDef => ({
      name: `container_network_${dir}_bytes_total`,
      kind: 'counter',
      unit: 'bytes',
      samples: (d, t) =>
        perRunning(d, (c) =>
          counter(seedOf(`${d.id}/${c.name}/${dir}`), t, bootTime(d, t), (c.cpuPercent + 1) * (dir === 'receive' ? 2e4 : 9e3)),
        ),
    }),
  ),
];

/** The families of a server's plugins. */
function pluginFamilies(def: ServerDef): FamilyDef[] {
  return def.plugins.map((p) => ({
    name: p.name,
    kind: p.kind,
    unit: p.unit,
    help: p.help,
    samples: (d, t) =>
      p.labelValues.map((lv) => {
        const seed = seedOf(`${d.id}/${p.name}/${lv}`);
        const value =
          p.kind === 'counter'
            ? counter(seed, t, bootTime(d, t), p.level)
            : Math.round(p.level * (0.2 + 1.6 * wave(seed, t)));
        return p.labelName === null ? { value } : { labels: { [p.labelName]: lv }, value };
      }),
  }));
}

function families(def: ServerDef): FamilyDef[] {
  return [...FAMILIES, ...pluginFamilies(def)];
}

// ---- snapshots, servers, series, history -------------------------------------

/** The time of the newest collection at or before `now` (Unix seconds) on the interval grid. */
export function demoTick(now: number): number {
  return Math.floor(now / DEMO_INTERVAL) * DEMO_INTERVAL;
}

/** The last instant a server reported at or before `now`, or null. */
function lastSeen(def: ServerDef, now: number): number | null {
  let t = demoTick(now);
  // Outages are at most a few hours long; the search stops after a day.
  for (let i = 0; i < DAY / DEMO_INTERVAL; i++, t -= DEMO_INTERVAL) {
    if (!def.down(t, now)) return t;
  }
  return null;
}

function inventory(def: ServerDef, t: number): ContainerInfo[] | undefined {
  if (def.containers === null) return undefined;
  const boot = bootTime(def, t);
  return def.containers.map((c) => {
    const info: ContainerInfo = {
      id: seedOf(c.name).toString(16).padStart(8, '0').repeat(8),
      name: c.name,
      image: c.image,
      state: c.state,
      restart_count: c.restarts,
      created: new Date((boot - 30 * DAY) * 1000).toISOString(),
      started: new Date((boot + 40) * 1000).toISOString(),
    };
    if (c.health) info.health = c.health;
    if (running(c)) {
      info.status = `Up ${Math.round((t - boot) / 3600)} hours${c.health ? ` (${c.health})` : ''}`;
    } else {
      info.status = `Exited (${c.exitCode ?? 0}) ${Math.round((t - boot) / 3600)} hours ago`;
      info.exit_code = c.exitCode ?? 0;
    }
    return info;
  });
}

/** The agent scans processes at most this often; collections in between report the last scan's list again. */
const PROCESS_SCAN = 10;
/** How many processes the agent keeps by CPU, and again by memory. */
const TOP_PROCESSES = 10;

interface Scanned {
  p: ProcessDef;
  cpu: number;
  rss: number;
}

/** The agent's top lists at `t`: the busiest processes and the largest, each once. */
function topProcesses(def: ServerDef, t: number): ProcessInfo[] {
  const scan = Math.floor(t / PROCESS_SCAN) * PROCESS_SCAN;
  const seen = def.processes.map((p): Scanned => {
    const seed = (what: string) => seedOf(`${def.id}/process/${p.pid}/${what}`);
    const rss = p.rssBytes * (0.97 + 0.06 * wave(seed('rss'), scan));
    // Resident memory is whole 4-KiB pages.
    return { p, cpu: p.cpuPercent * (0.4 + 1.2 * wave(seed('cpu'), scan)), rss: Math.round(rss / 4096) * 4096 };
  });
  const top = (value: (s: Scanned) => number) => [...seen].sort((a, b) => value(b) - value(a)).slice(0, TOP_PROCESSES);
  const kept = new Set([...top((s) => s.cpu), ...top((s) => s.rss)]);
  return seen
    .filter((s) => kept.has(s))
    .map(({ p, cpu, rss }) => {
      const info: ProcessInfo = { pid: p.pid, name: p.name, user: p.user, cpu_percent: cpu, rss_bytes: rss };
      if (p.command !== '') info.command = p.command;
      return info;
    });
}

/** What a demo server reports at `t` (Unix seconds), whether or not it is up then. */
export function demoSnapshot(serverId: string, t: number): Snapshot | null {
  const def = serverDef(serverId);
  if (!def) return null;
  const metrics: MetricFamily[] = families(def)
    .map((f) => {
      const family: MetricFamily = { name: f.name, kind: f.kind, samples: f.samples(def, t) };
      if (f.unit !== '') family.unit = f.unit;
      if (f.help) family.help = f.help;
      return family;
    })
    .filter((f) => f.samples.length > 0);
  const snapshot: Snapshot = {
    version: 1,
    server_id: def.id,
    timestamp: new Date(t * 1000).toISOString(),
    interval_secs: DEMO_INTERVAL,
    host: {
      hostname: def.hostname,
      os: def.os,
      kernel: def.kernel,
      arch: 'x86_64',
      boot_time: new Date(bootTime(def, t) * 1000).toISOString(),
      agent_version: '0.1.0',
    },
    metrics,
  };
  const containers = inventory(def, t);
  if (containers) snapshot.containers = containers;
  snapshot.processes = topProcesses(def, t);
  return snapshot;
}

/** The snapshots the demo servers that are up send at the tick `t`. */
export function demoLiveSnapshots(t: number): Snapshot[] {
  return SERVERS.filter((def) => !def.down(t, t)).flatMap((def) => demoSnapshot(def.id, t) ?? []);
}

/** True when a demo server reports at `t` (`now` being the current time, which some outages follow). */
export function demoUp(serverId: string, t: number, now: number): boolean {
  const def = serverDef(serverId);
  return def !== undefined && !def.down(demoTick(t), now);
}

/**
 * A demo server's outages that overlap [from, to): the first tick it
 * missed and the first tick it reported again (null while it still is
 * down at `to`), on the collection grid.
 */
export function demoOutages(serverId: string, from: number, to: number, now: number): { start: number; end: number | null }[] {
  const def = serverDef(serverId);
  if (!def) return [];
  const outages: { start: number; end: number | null }[] = [];
  let start: number | null = null;
  for (let t = demoTick(from); t < to; t += DEMO_INTERVAL) {
    const down = def.down(t, now);
    if (down && start === null) start = t;
    if (!down && start !== null) {
      outages.push({ start, end: t });
      start = null;
    }
  }
  if (start !== null) outages.push({ start, end: null });
  return outages;
}

/** The newest snapshot of a server as of `now`. */
function latestSnapshot(def: ServerDef, now: number): Snapshot | null {
  const seen = lastSeen(def, now);
  return seen === null ? null : demoSnapshot(def.id, seen);
}

/** `GET /api/servers` of the demo fleet at `now` (Unix seconds). */
export function demoServers(now: number): ServerView[] {
  return SERVERS.map((def) => {
    const snapshot = latestSnapshot(def, now);
    const summary = snapshot ? summarize(snapshot) : null;
    const seen = lastSeen(def, now);
    return {
      server_id: def.id,
      name: def.name,
      tags: def.tags,
      hostname: def.hostname,
      os: def.os,
      // Offline after three missed intervals, at least 30 s, as the server decides.
      online: seen !== null && now - seen <= Math.max(3 * DEMO_INTERVAL, 30),
      last_seen: seen === null ? null : new Date(seen * 1000).toISOString(),
      interval_secs: DEMO_INTERVAL,
      cpu_total_percent: summary?.cpu ?? null,
      memory_used_percent: summary?.memory ?? null,
      disk_used_percent: summary?.disk ?? null,
      containers_running: summary?.containersRunning ?? null,
    };
  });
}

/** `GET /api/servers/{id}/series` of a demo server, or null for an unknown id. */
export function demoSeries(serverId: string, now: number): SeriesInfo[] | null {
  const def = serverDef(serverId);
  if (!def) return null;
  const snapshot = latestSnapshot(def, now);
  if (!snapshot) return [];
  return snapshot.metrics.flatMap((f) =>
    f.samples.map((s) => ({
      metric: f.name,
      labels: s.labels ?? {},
      kind: f.kind ?? 'gauge',
      unit: f.unit ?? '',
      last_value: s.value,
      last_seen: snapshot.timestamp,
    })),
  );
}

interface Matcher {
  name: string;
  equal: boolean;
  value: string;
}

/** Label matchers as the server reads them: `cpu="3"`, `mountpoint!=/boot`, comma separated. */
export function parseMatchers(text: string | undefined): Matcher[] {
  if (!text) return [];
  return text.split(',').flatMap((part) => {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!?=)\s*(.*?)\s*$/.exec(part);
    if (!m) return [];
    const raw = m[3] ?? '';
    const value = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
    return [{ name: m[1] ?? '', equal: m[2] === '=', value }];
  });
}

function matches(matchers: readonly Matcher[], labels: Labels): boolean {
  return matchers.every((m) => ((labels[m.name] ?? '') === m.value) === m.equal);
}

/** The metrics of a history request without `metric`, as the server answers it. */
const DEFAULT_HISTORY_METRICS: readonly string[] = ['cpu_usage_percent', 'memory_used_percent', 'filesystem_used_percent'];

/** How many collections a bucket summarizes at most: a few evenly spread ones. */
const SAMPLES_PER_BUCKET = 3;

/**
 * `GET /api/metrics/history` of the demo: buckets of `step` seconds (or the
 * finest whole-second step giving at most `points` buckets), each the
 * summary of a few collections in it; a bucket where the server was down
 * is missing.
 */
export function demoHistory(request: HistoryRequest, now: number): HistoryView {
  const def = serverDef(request.serverId);
  const to = Math.min(request.to, now);
  const points = Math.max(1, request.points ?? 1000);
  const step = Math.max(DEMO_INTERVAL, request.step ?? Math.ceil((request.to - request.from) / points));
  const view: HistoryView = {
    server_id: request.serverId,
    from: new Date(request.from * 1000).toISOString(),
    to: new Date(request.to * 1000).toISOString(),
    step_secs: step,
    tier: step >= 3600 ? 'hour' : step >= 60 ? 'minute' : 'raw',
    series: [],
  };
  if (!def) return view;
  const names = request.metric === undefined ? DEFAULT_HISTORY_METRICS : [request.metric];
  const matchers = parseMatchers(request.match);
  for (const family of families(def).filter((f) => names.includes(f.name))) {
    view.series.push(...familyHistory(def, family, matchers, request.from, to, step, now));
  }
  return view;
}

function familyHistory(
  def: ServerDef,
  family: FamilyDef,
  matchers: readonly Matcher[],
  from: number,
  to: number,
  step: number,
  now: number,
): Series[] {
  const byKey = new Map<string, Series>();
  const firstBucket = Math.floor(from / step) * step;
  const gridStep = Math.max(DEMO_INTERVAL, Math.floor(step / SAMPLES_PER_BUCKET / DEMO_INTERVAL) * DEMO_INTERVAL);
  for (let bucket = firstBucket; bucket < to; bucket += step) {
    const acc = new Map<string, { labels: Labels; values: number[] }>();
    for (let t = Math.ceil(Math.max(bucket, from) / gridStep) * gridStep; t < bucket + step && t <= to; t += gridStep) {
      if (def.down(t, now)) continue;
      for (const sample of family.samples(def, t)) {
        const labels = sample.labels ?? {};
        if (!matches(matchers, labels)) continue;
        const key = seriesKey(family.name, labels);
        const entry = acc.get(key) ?? { labels, values: [] };
        entry.values.push(sample.value);
        acc.set(key, entry);
      }
    }
    for (const [key, { labels, values }] of acc) {
      let series = byKey.get(key);
      if (!series) {
        series = { metric: family.name, labels, kind: family.kind, unit: family.unit, points: [] };
        byKey.set(key, series);
      }
      const point: Point = {
        t: new Date(bucket * 1000).toISOString(),
        avg: values.reduce((a, b) => a + b, 0) / values.length,
        min: Math.min(...values),
        max: Math.max(...values),
        last: values[values.length - 1] ?? 0,
        count: Math.max(values.length, Math.round(step / DEMO_INTERVAL)),
      };
      series.points.push(point);
    }
  }
  return [...byKey.values()];
}
