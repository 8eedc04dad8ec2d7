import { useEffect, useId, useMemo, useReducer, useRef, useState } from 'react';

import { Sparkline } from '../components/Sparkline';
import { SortHeader } from '../components/SortHeader';
import { useFiring, useLiveSnapshots, useNow, useServers } from '../hooks';
import { firingCounts } from '../lib/alertFeed';
import { overThreshold } from '../lib/alerts';
import { runLimited } from '../lib/async';
import { formatAgo, formatNumber, formatPercent } from '../lib/format';
import { LineStore, maxLine, type LineData } from '../lib/lines';
import { displayName, filterServers, sortServers, type ServerSortKey } from '../lib/overview';
import { routeHref } from '../lib/route';
import { seriesKey } from '../lib/snapshot';
import type { SortState } from '../lib/sort';
import type { DataSource } from '../lib/source';
import { parseOptionalTimestamp } from '../lib/time';
import type { ServerView, Thresholds } from '../lib/types';

/** The sparklines' window. */
const SPARK_SECS = 3600;
/** Buckets per sparkline: one a minute. */
const SPARK_POINTS = 60;

type Metric = 'cpu' | 'memory' | 'disk';

/** A server's sparkline of one figure; disk is the fullest filesystem at each time. */
function sparkLine(store: LineStore | undefined, metric: Metric, filesystems: readonly string[]): LineData | undefined {
  if (!store) return undefined;
  if (metric === 'cpu') return store.get('cpu_usage_percent');
  if (metric === 'memory') return store.get('memory_used_percent');
  const lines = filesystems.flatMap((key) => store.get(key) ?? []);
  return lines.length > 0 ? maxLine(lines) : undefined;
}

export function OverviewPage({ source }: { source: DataSource }) {
  const { servers, error } = useServers(source);
  const [thresholds, setThresholds] = useState<Thresholds | null>(null);
  const [query, setQuery] = useState('');
  const [sort, setSort] = useState<SortState<ServerSortKey>>({ key: 'name', dir: 'asc' });
  const now = useNow(5000);
  const searchId = useId();

  // Sparkline data per server: one hour of history, then live points.
  const sparks = useRef(new Map<string, { store: LineStore; filesystems: string[] }>());
  const [, sparkChanged] = useReducer((n: number) => n + 1, 0);

  useEffect(() => {
    const controller = new AbortController();
    source.thresholds(controller.signal).then(setThresholds, () => undefined);
    return () => controller.abort();
  }, [source]);

  const serverIds = (servers ?? []).map((s) => s.server_id).join('\n');
  useEffect(() => {
    if (serverIds === '') return;
    const controller = new AbortController();
    const nowSec = Date.now() / 1000;
    const missing = serverIds.split('\n').filter((id) => !sparks.current.has(id));
    const tasks = missing.map((id) => async () => {
      const view = await source.history(
        { serverId: id, from: nowSec - SPARK_SECS, to: nowSec, points: SPARK_POINTS },
        controller.signal,
      );
      const store = new LineStore();
      store.windowSecs = SPARK_SECS;
      store.setHistory(view, () => 'value');
      const filesystems = view.series
        .filter((s) => s.metric === 'filesystem_used_percent')
        .map((s) => seriesKey(s.metric, s.labels));
      sparks.current.set(id, { store, filesystems });
      sparkChanged();
    });
    // A failed sparkline stays empty (the banner tells why) and is asked again with the next list.
    void runLimited(tasks, 4);
    return () => controller.abort();
  }, [source, serverIds]);

  useLiveSnapshots(source, (snapshot) => {
    const entry = sparks.current.get(snapshot.server_id);
    if (!entry) return;
    entry.store.append(snapshot);
    sparkChanged();
  });

  const visible = useMemo(
    () => (servers ? sortServers(filterServers(servers, query), sort.key, sort.dir) : []),
    [servers, query, sort],
  );
  // What fires is the server's alert engine's word (GET /api/alerts/firing and the stream).
  const { firing } = useFiring(source);
  const firingTotal = firing?.length ?? 0;
  const firingByServer = useMemo(() => firingCounts(firing ?? []), [firing]);

  const header = (label: string, column: ServerSortKey, className?: string) => (
    <SortHeader label={label} column={column} sort={sort} onSort={setSort} className={className} />
  );
  const nowSec = now / 1000;
  const spark = (server: ServerView, metric: Metric, label: string) => {
    const entry = sparks.current.get(server.server_id);
    return (
      <Sparkline
        line={sparkLine(entry?.store, metric, entry?.filesystems ?? [])}
        from={nowSec - SPARK_SECS}
        to={nowSec}
        label={`${label} of ${displayName(server)} over the last hour`}
      />
    );
  };

  /** A figure's cell, marked (in color and in words) when above its threshold. */
  const figure = (server: ServerView, metric: Metric, label: string, value: number | null, limit: number | undefined) => {
    const over = overThreshold(value, limit);
    return (
      <td className={over ? 'num over' : 'num'} data-metric={metric}>
        <span className="value">
          {formatPercent(value)}
          {over && <span className="visually-hidden"> (above threshold)</span>}
        </span>
        {spark(server, metric, label)}
      </td>
    );
  };

  return (
    <section aria-labelledby="overview-title">
      <div className="page-head">
        <h1 id="overview-title">Servers</h1>
        {firingTotal > 0 && (
          <a className="firing-summary" href={routeHref({ page: 'alerts' })} data-testid="firing-summary" data-count={firingTotal}>
            {firingTotal === 1 ? '1 alert firing' : `${firingTotal} alerts firing`}
          </a>
        )}
      </div>
      <div className="toolbar">
        <label htmlFor={searchId}>Search</label>
        <input
          id={searchId}
          type="search"
          placeholder="name, host, tag…"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          data-testid="server-search"
        />
        <span className="subtle" aria-live="polite">
          {servers ? `${visible.length} of ${servers.length} servers` : ''}
        </span>
      </div>
      {error && !servers && <p className="notice">Could not load the servers: {error}</p>}
      {!servers && !error && <p className="notice">Loading servers…</p>}
      {servers && servers.length === 0 && (
        <p className="notice">
          No server is registered yet. Register one with <code>POST /api/register</code> and start its agent.
        </p>
      )}
      {servers && servers.length > 0 && (
        <div className="table-wrap">
          <table className="data-table servers-table" data-testid="servers-table">
            <caption className="visually-hidden">Servers, sortable by each column</caption>
            <thead>
              <tr>
                {header('Status', 'status')}
                {header('Server', 'name')}
                {header('CPU', 'cpu', 'num')}
                {header('Memory', 'memory', 'num')}
                {header('Disk', 'disk', 'num')}
                {header('Containers', 'containers', 'num')}
                {header('Last seen', 'last_seen')}
              </tr>
            </thead>
            <tbody>
              {visible.map((server) => {
                const alerts = firingByServer.get(server.server_id) ?? 0;
                return (
                <tr
                  key={server.server_id}
                  className={alerts > 0 ? 'row-firing' : undefined}
                  data-testid="server-row"
                  data-server-id={server.server_id}
                  data-firing={alerts}
                >
                  <td>
                    <span className={`status status-${server.online ? 'online' : 'offline'}`}>
                      {server.online ? 'online' : 'offline'}
                    </span>
                    {alerts > 0 && (
                      <a className="server-firing" href={routeHref({ page: 'alerts' })} data-testid="server-firing">
                        {alerts === 1 ? '1 alert' : `${alerts} alerts`}
                        <span className="visually-hidden"> firing on {displayName(server)}</span>
                      </a>
                    )}
                  </td>
                  <th scope="row">
                    <a href={routeHref({ page: 'server', serverId: server.server_id })} data-testid="server-link">
                      {displayName(server)}
                    </a>
                    <span className="subtle">
                      {server.server_id}
                      {server.hostname && server.hostname !== server.server_id ? ` · ${server.hostname}` : ''}
                    </span>
                    {server.tags.length > 0 && (
                      <span className="tags">
                        {server.tags.map((tag) => (
                          <span key={tag} className="tag">
                            {tag}
                          </span>
                        ))}
                      </span>
                    )}
                  </th>
                  {figure(server, 'cpu', 'CPU', server.cpu_total_percent, thresholds?.cpu_total_percent)}
                  {figure(server, 'memory', 'Memory', server.memory_used_percent, thresholds?.memory_used_percent)}
                  {figure(server, 'disk', 'Disk', server.disk_used_percent, thresholds?.disk_used_percent)}
                  <td className="num">{formatNumber(server.containers_running)}</td>
                  <td>
                    <time dateTime={typeof server.last_seen === 'string' ? server.last_seen : undefined}>
                      {formatAgo(parseOptionalTimestamp(server.last_seen), now)}
                    </time>
                  </td>
                </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
