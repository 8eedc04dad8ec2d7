import { useCallback, useEffect, useMemo, useReducer, useRef, useState } from 'react';

import { Chart } from '../components/Chart';
import { ContainersTable } from '../components/ContainersTable';
import { FilesystemsTable } from '../components/FilesystemsTable';
import { ProcessesTable } from '../components/ProcessesTable';
import { RangePicker } from '../components/RangePicker';
import { useFiring, useLiveSnapshots, useServers } from '../hooks';
import { errorText, isAbortError, runLimited } from '../lib/async';
import { buildCharts, chartMetrics, type ChartSpec, type Section } from '../lib/charts';
import { formatAgo, formatBytes, formatDuration, formatNumber } from '../lib/format';
import { alignLines, LineStore, type LineData } from '../lib/lines';
import { displayName } from '../lib/overview';
import { routeHref } from '../lib/route';
import type { DataSource } from '../lib/source';
import { containerRows, filesystemRows, processRows, updateSeriesInfos } from '../lib/tables';
import { parseOptionalTimestamp, parseTimestamp } from '../lib/time';
import {
  DEFAULT_RANGE,
  describeRange,
  pointsForWidth,
  resolveRange,
  zoomRange,
  type PresetId,
  type TimeRange,
} from '../lib/timeRange';
import type { ContainerInfo, HostInfo, ProcessInfo, SeriesInfo, Thresholds } from '../lib/types';

/** Fetch the series list again at most this often when snapshots bring unknown series. */
const SERIES_REFRESH_MS = 30_000;
/** How often a live window moves on without new data. */
const LIVE_TICK_MS = 5000;

const EMPTY_LINE: LineData = { t: [], v: [] };

/** One chart fed from the page's line store; redrawn only when one of its lines changed. */
function StoreChart({
  spec,
  store,
  from,
  to,
  onZoom,
}: {
  spec: ChartSpec;
  store: LineStore;
  from: number;
  to: number;
  onZoom: (from: number, to: number) => void;
}) {
  const revisions = spec.lines.map((l) => `${l.key}@${store.revision(l.key)}`).join('\n');
  // `revisions` names every line and its revision: the lines are read through it.
  const data = useMemo(() => alignLines(spec.lines.map((l) => store.get(l.key) ?? EMPTY_LINE)), [revisions, store]);
  return <Chart spec={spec} data={data} from={from} to={to} onZoom={onZoom} />;
}

// Processes have a table and no chart.
const SECTIONS: { section: Section | 'processes'; title: string }[] = [
  { section: 'system', title: 'System' },
  { section: 'filesystems', title: 'Filesystems' },
  { section: 'containers', title: 'Containers' },
  { section: 'processes', title: 'Processes' },
  { section: 'other', title: 'Other metrics' },
];

export function ServerPage({ source, serverId }: { source: DataSource; serverId: string }) {
  const { servers } = useServers(source);
  const { firing } = useFiring(source);
  const firingHere = (firing ?? []).filter((a) => a.server_id === serverId).length;
  const server = servers?.find((s) => s.server_id === serverId) ?? null;

  const [range, setRange] = useState<TimeRange>(DEFAULT_RANGE);
  const [lastPreset, setLastPreset] = useState<PresetId>('15m');
  const [infos, setInfos] = useState<SeriesInfo[] | null>(null);
  const [infosError, setInfosError] = useState<string | null>(null);
  const [seriesGeneration, refreshSeries] = useReducer((n: number) => n + 1, 0);
  const [inventory, setInventory] = useState<ContainerInfo[] | null>(null);
  const [processes, setProcesses] = useState<ProcessInfo[] | null>(null);
  const [host, setHost] = useState<HostInfo | null>(null);
  const [thresholds, setThresholds] = useState<Thresholds | null>(null);
  const [store] = useState(() => new LineStore());
  const [, dataChanged] = useReducer((n: number) => n + 1, 0);
  const [loading, setLoading] = useState(false);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const [liveNow, setLiveNow] = useState(() => Date.now() / 1000);
  const grid = useRef<HTMLDivElement>(null);
  const infosRef = useRef<SeriesInfo[] | null>(null);
  infosRef.current = infos;
  const lastSeriesRefresh = useRef(0);

  useEffect(() => {
    const controller = new AbortController();
    source.series(serverId, controller.signal).then(
      (list) => {
        setInfos(list);
        setInfosError(null);
      },
      (e: unknown) => {
        if (!isAbortError(e)) setInfosError(errorText(e));
      },
    );
    return () => controller.abort();
  }, [source, serverId, seriesGeneration]);

  useEffect(() => {
    const controller = new AbortController();
    source.thresholds(controller.signal).then(setThresholds, () => undefined);
    return () => controller.abort();
  }, [source]);

  const containers = useMemo(() => (infos ? containerRows(infos, inventory) : []), [infos, inventory]);
  const filesystems = useMemo(() => (infos ? filesystemRows(infos) : []), [infos]);
  const topProcesses = useMemo(() => (processes ? processRows(processes) : []), [processes]);
  const charts = useMemo(
    () => (infos ? buildCharts(infos, containers.map((c) => c.name)) : []),
    [infos, containers],
  );
  const metricsKey = chartMetrics(charts).join(',');
  const rangeKey = JSON.stringify(range);
  const loaded = useRef(new Set<string>());
  const loadedRange = useRef('');

  // History: every metric the charts need, again for each new range, and
  // for metrics that appear later (a new container, a new plugin).
  useEffect(() => {
    if (metricsKey === '') return;
    if (loadedRange.current !== rangeKey) {
      store.clear();
      loaded.current.clear();
      loadedRange.current = rangeKey;
      dataChanged();
    }
    const resolved = resolveRange(range, Date.now() / 1000);
    store.live = resolved.live;
    store.windowSecs = resolved.live ? resolved.windowSecs : null;
    setLiveNow(resolved.to);
    const missing = metricsKey.split(',').filter((m) => !loaded.current.has(m));
    if (missing.length === 0) return;
    // About one bucket per pixel of a chart.
    const plot = grid.current?.querySelector('.chart-plot');
    const points = pointsForWidth(plot?.clientWidth ?? grid.current?.clientWidth ?? window.innerWidth);
    const controller = new AbortController();
    setLoading(true);
    const tasks = missing.map((metric) => async () => {
      const view = await source.history(
        { serverId, metric, from: resolved.from, to: resolved.to, points },
        controller.signal,
      );
      store.setHistory(view, (s) => (s.kind === 'counter' ? 'rate' : 'value'));
      loaded.current.add(metric);
      dataChanged();
    });
    void runLimited(tasks, 4).then((errors) => {
      if (controller.signal.aborted) return;
      setLoading(false);
      const failure = errors.find((e) => !isAbortError(e));
      setHistoryError(failure === undefined ? null : errorText(failure));
    });
    return () => controller.abort();
    // `range` is read through `rangeKey`.
  }, [source, serverId, rangeKey, metricsKey, store]);

  // A live window slides with the clock even when no snapshot comes.
  useEffect(() => {
    if (range.kind !== 'live') return;
    const timer = setInterval(() => setLiveNow(Date.now() / 1000), LIVE_TICK_MS);
    return () => clearInterval(timer);
  }, [range.kind]);

  useLiveSnapshots(source, (snapshot) => {
    if (snapshot.server_id !== serverId) return;
    store.append(snapshot);
    if (snapshot.containers) setInventory(snapshot.containers);
    if (snapshot.processes) setProcesses(snapshot.processes);
    if (snapshot.host) setHost(snapshot.host);
    const current = infosRef.current;
    if (current) {
      const update = updateSeriesInfos(current, snapshot);
      setInfos(update.infos);
      if (update.unknown && Date.now() - lastSeriesRefresh.current > SERIES_REFRESH_MS) {
        lastSeriesRefresh.current = Date.now();
        refreshSeries();
      }
    }
    if (store.live) setLiveNow((now) => Math.max(now, parseTimestamp(snapshot.timestamp) / 1000));
    dataChanged();
  });

  const onZoom = useCallback((a: number, b: number) => setRange(zoomRange(a, b)), []);
  const changeRange = (next: TimeRange) => {
    if (next.kind === 'live') setLastPreset(next.preset);
    setRange(next);
  };

  const resolved = resolveRange(range, liveNow);
  const from = range.kind === 'live' ? liveNow - resolved.windowSecs : resolved.from;
  const to = range.kind === 'live' ? liveNow : resolved.to;

  const latest = (metric: string) => infos?.find((i) => i.metric === metric && Object.keys(i.labels).length === 0)?.last_value ?? null;
  const hasData = (spec: ChartSpec) => spec.lines.some((l) => (store.get(l.key)?.v ?? []).some((v) => v !== null));
  const settled = (spec: ChartSpec) => spec.lines.every((l) => loaded.current.has(l.metric));
  // Host charts always show (with "No data"); other charts only when they have something in range.
  const visibleCharts = (section: Section | 'processes') =>
    charts.filter((c) => c.section === section && (section === 'system' || !settled(c) || hasData(c)));

  if (servers && !server) {
    return (
      <section aria-labelledby="server-title">
        <h1 id="server-title">Unknown server</h1>
        <p className="notice">
          No server has the id <code>{serverId}</code>. <a href={routeHref({ page: 'overview' })}>Back to all servers</a>
        </p>
      </section>
    );
  }

  const title = server ? displayName(server) : serverId;
  return (
    <section aria-labelledby="server-title" data-testid="server-page">
      <p className="breadcrumb">
        <a href={routeHref({ page: 'overview' })}>All servers</a>
      </p>
      <div className="page-head">
        <h1 id="server-title">{title}</h1>
        {server && (
          <span className={`status status-${server.online ? 'online' : 'offline'}`} data-testid="server-status">
            {server.online ? 'online' : 'offline'}
          </span>
        )}
        {firingHere > 0 && (
          <a className="firing-summary" href={routeHref({ page: 'alerts' })} data-testid="server-firing-summary">
            {firingHere === 1 ? '1 alert firing' : `${firingHere} alerts firing`}
          </a>
        )}
      </div>
      <dl className="facts">
        <div>
          <dt>Id</dt>
          <dd>{serverId}</dd>
        </div>
        <div>
          <dt>Host</dt>
          <dd>{host?.hostname ?? server?.hostname ?? '—'}</dd>
        </div>
        <div>
          <dt>System</dt>
          <dd>
            {host?.os ?? server?.os ?? '—'}
            {host?.kernel ? ` · ${host.kernel}` : ''}
            {host?.arch ? ` · ${host.arch}` : ''}
          </dd>
        </div>
        <div>
          <dt>CPUs</dt>
          <dd>{formatNumber(latest('cpu_logical_cores'))}</dd>
        </div>
        <div>
          <dt>Memory</dt>
          <dd>{formatBytes(latest('memory_total_bytes'))}</dd>
        </div>
        <div>
          <dt>Uptime</dt>
          <dd>{formatDuration(latest('system_uptime_seconds'))}</dd>
        </div>
        <div>
          <dt>Last seen</dt>
          <dd>{formatAgo(parseOptionalTimestamp(server?.last_seen), liveNow * 1000)}</dd>
        </div>
      </dl>

      <div className="toolbar range-bar">
        <RangePicker range={range} onChange={changeRange} />
        {range.kind === 'fixed' && (
          <button type="button" onClick={() => changeRange({ kind: 'live', preset: lastPreset })}>
            Back to live
          </button>
        )}
        <span className="subtle" aria-live="polite">
          {describeRange(range)}
          {loading ? ' · loading…' : ''}
        </span>
      </div>
      <p className="hint subtle">Drag across a chart to zoom into that time range.</p>
      {infosError && <p className="notice">Could not load the series of this server: {infosError}</p>}
      {historyError && <p className="notice">Some history could not be loaded: {historyError}</p>}
      {infos && infos.length === 0 && <p className="notice">This server has not reported any metric yet.</p>}

      <div ref={grid}>
        {SECTIONS.map(({ section, title: sectionTitle }) => {
          const list = visibleCharts(section);
          const table =
            section === 'filesystems' && filesystems.length > 0 ? (
              <FilesystemsTable rows={filesystems} threshold={thresholds?.disk_used_percent ?? null} />
            ) : section === 'containers' && containers.length > 0 ? (
              <ContainersTable rows={containers} />
            ) : section === 'processes' && topProcesses.length > 0 ? (
              <>
                <p className="hint subtle">Top 10 by CPU and top 10 by memory, refreshed every 10 s.</p>
                <ProcessesTable rows={topProcesses} />
              </>
            ) : null;
          if (list.length === 0 && table === null) return null;
          return (
            <section key={section} className="chart-section" aria-labelledby={`section-${section}`}>
              <h2 id={`section-${section}`}>{sectionTitle}</h2>
              {table}
              <div className="chart-grid">
                {list.map((spec) => (
                  <StoreChart key={spec.id} spec={spec} store={store} from={from} to={to} onZoom={onZoom} />
                ))}
              </div>
            </section>
          );
        })}
      </div>
    </section>
  );
}
