// Which charts the server page draws, from the series the server reports
// (`GET /api/servers/{id}/series`): the well-known metrics get curated
// charts first; every other metric, a plugin's included, gets a chart of its
// own with one line per label set, with no code change.

import { formatLabels } from './format';
import type { Transform } from './lines';
import { seriesKey } from './snapshot';
import type { Labels, SeriesInfo, Unit } from './types';

export interface LineSpec {
  /** The series key (`seriesKey`), also the key of its data. */
  key: string;
  metric: string;
  labels: Labels;
  /** The legend text. */
  label: string;
  /** The unit of the drawn values (a counter's rate is per second). */
  unit: Unit;
  transform: Transform;
}

export type Section = 'system' | 'filesystems' | 'containers' | 'other';

export interface ChartSpec {
  id: string;
  title: string;
  section: Section;
  lines: LineSpec[];
}

/** The unit of a counter's per-second rate. */
export function rateUnit(unit: Unit): Unit {
  if (unit === 'bytes') return 'bytes_per_second';
  if (unit === '' || unit === 'count') return 'per_second';
  return `${unit}_per_second`;
}

function line(info: SeriesInfo, label: string): LineSpec {
  const rate = info.kind === 'counter';
  return {
    key: seriesKey(info.metric, info.labels),
    metric: info.metric,
    labels: info.labels,
    label,
    unit: rate ? rateUnit(info.unit) : info.unit,
    transform: rate ? 'rate' : 'value',
  };
}

/** Metrics shown elsewhere on the page (header, tables) or as their rate gauge. */
const NOT_CHARTED = new Set([
  'cpu_logical_cores',
  'cpu_seconds_total',
  'memory_total_bytes',
  'system_uptime_seconds',
  'system_boot_time_seconds',
  'filesystem_size_bytes',
  'filesystem_used_bytes',
  'filesystem_avail_bytes',
  'network_receive_bytes_total',
  'network_transmit_bytes_total',
  'disk_read_bytes_total',
  'disk_written_bytes_total',
]);

const isContainerMetric = (metric: string) => metric.startsWith('container_');

const hasNoLabels = (labels: Labels) => Object.keys(labels).length === 0;

/** Compares label values, numbers by value (`cpu 2` before `cpu 10`). */
function byLabel(name: string) {
  return (a: SeriesInfo, b: SeriesInfo) =>
    (a.labels[name] ?? '').localeCompare(b.labels[name] ?? '', undefined, { numeric: true });
}

/** The curated charts of the well-known host metrics, in page order. */
function curated(infos: readonly SeriesInfo[], used: Set<SeriesInfo>): ChartSpec[] {
  const find = (metric: string, where: (labels: Labels) => boolean = hasNoLabels) =>
    infos.filter((i) => i.metric === metric && where(i.labels));
  const take = (found: SeriesInfo[], label: (info: SeriesInfo) => string): LineSpec[] =>
    found.map((info) => {
      used.add(info);
      return line(info, label(info));
    });
  const machine = (pairs: [string, string][]): LineSpec[] =>
    pairs.flatMap(([metric, label]) => take(find(metric), () => label));

  const charts: ChartSpec[] = [
    {
      id: 'cpu',
      title: 'CPU',
      section: 'system',
      lines: machine([
        ['cpu_usage_percent', 'total'],
        ['cpu_user_percent', 'user'],
        ['cpu_system_percent', 'system'],
        ['cpu_iowait_percent', 'iowait'],
        ['cpu_steal_percent', 'steal'],
      ]),
    },
    {
      id: 'cpu-cores',
      title: 'CPU per core',
      section: 'system',
      lines: take(
        find('cpu_usage_percent', (l) => l.cpu !== undefined).sort(byLabel('cpu')),
        (i) => `cpu ${i.labels.cpu ?? ''}`,
      ),
    },
    {
      id: 'memory',
      title: 'Memory',
      section: 'system',
      lines: machine([
        ['memory_used_bytes', 'used'],
        ['memory_cached_bytes', 'cache'],
        ['memory_buffers_bytes', 'buffers'],
        ['memory_free_bytes', 'free'],
      ]),
    },
    {
      id: 'swap',
      title: 'Swap',
      section: 'system',
      lines: machine([
        ['swap_used_bytes', 'used'],
        ['swap_total_bytes', 'total'],
      ]),
    },
    {
      id: 'load',
      title: 'Load average',
      section: 'system',
      lines: machine([
        ['load_average_1m', '1 min'],
        ['load_average_5m', '5 min'],
        ['load_average_15m', '15 min'],
      ]),
    },
    {
      id: 'network',
      title: 'Network',
      section: 'system',
      lines: [
        ...take(
          find('network_receive_bytes_per_second', (l) => l.interface !== undefined).sort(byLabel('interface')),
          (i) => `${i.labels.interface ?? ''} in`,
        ),
        ...take(
          find('network_transmit_bytes_per_second', (l) => l.interface !== undefined).sort(byLabel('interface')),
          (i) => `${i.labels.interface ?? ''} out`,
        ),
      ],
    },
    {
      id: 'disk-io',
      title: 'Disk I/O',
      section: 'system',
      lines: [
        ...take(
          find('disk_read_bytes_per_second', (l) => l.device !== undefined).sort(byLabel('device')),
          (i) => `${i.labels.device ?? ''} read`,
        ),
        ...take(
          find('disk_written_bytes_per_second', (l) => l.device !== undefined).sort(byLabel('device')),
          (i) => `${i.labels.device ?? ''} write`,
        ),
      ],
    },
  ];

  for (const info of find('filesystem_used_percent', (l) => l.mountpoint !== undefined).sort(byLabel('mountpoint'))) {
    const mountpoint = info.labels.mountpoint ?? '';
    charts.push({
      id: `fs:${mountpoint}`,
      title: `Filesystem ${mountpoint}`,
      section: 'filesystems',
      lines: take([info], () => 'used'),
    });
  }
  return charts.filter((c) => c.lines.length > 0);
}

function containerCharts(infos: readonly SeriesInfo[], names: readonly string[]): ChartSpec[] {
  return [...names].sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).flatMap((name) => {
    const lines: LineSpec[] = [];
    for (const [metric, label] of [
      ['container_cpu_percent', 'CPU'],
      ['container_memory_usage_bytes', 'memory'],
    ] as const) {
      const info = infos.find((i) => i.metric === metric && i.labels.name === name);
      if (info) lines.push(line(info, label));
    }
    return lines.length > 0 ? [{ id: `container:${name}`, title: `Container ${name}`, section: 'containers' as const, lines }] : [];
  });
}

/** The legend text of a generic line: its labels, or the metric for the unlabelled series. */
function genericLabel(info: SeriesInfo): string {
  const pairs = Object.entries(info.labels).sort(([a], [b]) => a.localeCompare(b));
  return pairs.length === 0 ? info.metric : pairs.map(([k, v]) => `${k}=${v}`).join(', ');
}

/**
 * Every chart of a server page, in order: curated host charts, one per
 * filesystem, one per container of `containers` (the containers table's
 * names), then one per remaining metric.
 */
export function buildCharts(infos: readonly SeriesInfo[], containers: readonly string[]): ChartSpec[] {
  const used = new Set<SeriesInfo>();
  const charts = [...curated(infos, used), ...containerCharts(infos, containers)];
  const rest = new Map<string, SeriesInfo[]>();
  for (const info of infos) {
    if (used.has(info) || NOT_CHARTED.has(info.metric) || isContainerMetric(info.metric)) continue;
    const list = rest.get(info.metric) ?? [];
    list.push(info);
    rest.set(info.metric, list);
  }
  for (const metric of [...rest.keys()].sort()) {
    const list = rest.get(metric) ?? [];
    list.sort((a, b) => formatLabels(a.labels).localeCompare(formatLabels(b.labels), undefined, { numeric: true }));
    charts.push({
      id: `metric:${metric}`,
      title: metric,
      section: 'other',
      lines: list.map((info) => line(info, genericLabel(info))),
    });
  }
  return charts;
}

/** The metrics whose history the charts need, each once. */
export function chartMetrics(charts: readonly ChartSpec[]): string[] {
  return [...new Set(charts.flatMap((c) => c.lines.map((l) => l.metric)))];
}

/**
 * The value axis of a unit over data from `min` to `max` (null without data):
 * from zero (or below, for negative data); percentages up to 100 at least;
 * a flat line gets some room above.
 */
export function valueRange(unit: Unit, min: number | null, max: number | null): [number, number] {
  if (unit === 'percent') return [Math.min(0, min ?? 0), Math.max(100, max ?? 0)];
  if (min === null || max === null) return [0, 1];
  const lo = Math.min(0, min);
  const hi = max > lo ? max + (max - lo) * 0.05 : lo + 1;
  return [lo, hi];
}

/** Tick steps of a bytes axis: powers of two, so that ticks read 256 MiB, 512 MiB, 1 GiB. */
export const BYTES_INCREMENTS: readonly number[] = Array.from({ length: 61 }, (_, i) => 2 ** i);
