import { useCallback, useEffect, useMemo, useRef, useState } from 'react';

import { EventsPanel, type EventsView } from '../components/alerts/EventsPanel';
import { FiringTable } from '../components/alerts/FiringTable';
import { NotifiersPanel } from '../components/alerts/NotifiersPanel';
import { RulesPanel } from '../components/alerts/RulesPanel';
import { SilencesPanel } from '../components/alerts/SilencesPanel';
import { ThresholdsForm } from '../components/alerts/ThresholdsForm';
import { useFiring, useLiveAlerts, useNow, usePolled, useServers } from '../hooks';
import { canChangeAlerts, isReadOnly, READ_ONLY_NOTICE } from '../lib/access';
import {
  alertKey,
  EVENTS_PAGE,
  eventMatches,
  olderCursor,
  sortFiring,
  withLiveEvent,
  withNewestPage,
  withOlderPage,
  type EventFeed,
} from '../lib/alertFeed';
import { errorText, isAbortError, runLimited } from '../lib/async';
import { formatWhen } from '../lib/format';
import { displayName } from '../lib/overview';
import { metricOptions, planRuleEdit, type MetricOption, type RuleEdit } from '../lib/rules';
import { activeSilences, quickSilence, silenceTarget } from '../lib/silences';
import type { DataSource } from '../lib/source';
import { parseOptionalTimestamp } from '../lib/time';
import type { Access, AlertRule, AlertStateRecord, SeriesInfo, Thresholds } from '../lib/types';

/** How often silences and notifiers are read again. */
const POLL_MS = 30_000;
/** How often the events are read again (live events fill the list in between). */
const EVENTS_POLL_MS = 60_000;
/** The servers whose series are read for the metric names of the rule form. */
const METRIC_SERVERS = 25;

/**
 * The alert engine's page. `access` (null until known) decides whether the
 * controls that change things are offered: a read-only token sees
 * everything without them, and one notice says why.
 */
export function AlertsPage({ source, access }: { source: DataSource; access: Access | null }) {
  const editable = canChangeAlerts(access);
  const { servers, error: serversError } = useServers(source);
  const { firing, error: firingError, refresh: refreshFiring } = useFiring(source);
  const now = useNow(5000);

  const [thresholds, setThresholds] = useState<Thresholds | null>(null);
  const [thresholdsError, setThresholdsError] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    source.thresholds(controller.signal).then(setThresholds, (e: unknown) => {
      if (!isAbortError(e)) setThresholdsError(errorText(e));
    });
    return () => controller.abort();
  }, [source]);

  const rules = usePolled(source, (signal) => source.rules(signal), null);
  const silences = usePolled(source, (signal) => source.silences(signal), POLL_MS);
  const notifiers = usePolled(source, (signal) => source.notifiers(signal), POLL_MS);

  // ---- names ----
  const serverList = useMemo(
    () =>
      (servers ?? [])
        .map((s) => ({ id: s.server_id, name: displayName(s), tags: s.tags }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    [servers],
  );
  const serverNames = useMemo(() => new Map(serverList.map((s) => [s.id, s.name])), [serverList]);
  const serverName = useCallback((id: string) => serverNames.get(id) ?? id, [serverNames]);
  const rulesById = useMemo(() => new Map((rules.data ?? []).map((r) => [r.id, r])), [rules.data]);
  const rule = useCallback((id: string) => rulesById.get(id), [rulesById]);
  const ruleName = useCallback((id: string) => rulesById.get(id)?.name ?? id, [rulesById]);

  // An alert of a rule the page does not know yet (created elsewhere): read the rules again.
  const unknownRule = (firing ?? []).some((a) => rules.data !== null && !rulesById.has(a.rule_id));
  const reloadRules = rules.reload;
  useEffect(() => {
    if (unknownRule) reloadRules();
  }, [unknownRule, reloadRules]);

  // ---- events: the newest page per filter, read again now and then; older pages on demand; live-appended ----
  const [view, setView] = useState<EventsView>({ serverId: '', ruleId: '' });
  const [feed, setFeed] = useState<EventFeed | null>(null);
  const [eventsError, setEventsError] = useState<string | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [olderError, setOlderError] = useState<string | null>(null);
  const olderRead = useRef<AbortController | null>(null);
  const viewRef = useRef(view);
  viewRef.current = view;
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    setFeed(null);
    setLoadingOlder(false);
    setOlderError(null);
    const load = async () => {
      try {
        const page = await source.alertEvents(
          { serverId: view.serverId || undefined, ruleId: view.ruleId || undefined, limit: EVENTS_PAGE },
          controller.signal,
        );
        if (controller.signal.aborted) return;
        // Older pages and the live events that arrived meanwhile stay: merged, each once.
        setFeed((current) => withNewestPage(current, page));
        setEventsError(null);
      } catch (e) {
        if (isAbortError(e)) return;
        setEventsError(errorText(e));
      }
      timer = setTimeout(() => void load(), EVENTS_POLL_MS);
    };
    void load();
    return () => {
      controller.abort();
      clearTimeout(timer);
      olderRead.current?.abort();
      olderRead.current = null;
    };
  }, [source, view]);

  const before = feed === null || feed.end ? null : olderCursor(feed.events);
  const loadOlder = async () => {
    if (before === null || olderRead.current !== null) return;
    const controller = new AbortController();
    olderRead.current = controller;
    setLoadingOlder(true);
    setOlderError(null);
    try {
      const page = await source.alertEvents(
        { serverId: view.serverId || undefined, ruleId: view.ruleId || undefined, before, limit: EVENTS_PAGE },
        controller.signal,
      );
      if (!controller.signal.aborted) setFeed((current) => current && withOlderPage(current, before, page));
    } catch (e) {
      if (!isAbortError(e) && !controller.signal.aborted) setOlderError(errorText(e));
    } finally {
      // A read the filter's change aborted is no longer this one's to end.
      if (olderRead.current === controller) {
        olderRead.current = null;
        setLoadingOlder(false);
      }
    }
  };

  useLiveAlerts(source, (event) => {
    if (!eventMatches(event, viewRef.current)) return;
    setFeed((current) => current && withLiveEvent(current, event));
  });

  // ---- firing ----
  const sortedFiring = useMemo(() => (firing ? sortFiring(firing, rule) : null), [firing, rule]);
  const liveSilences = useMemo(() => activeSilences(silences.data ?? [], now), [silences.data, now]);
  const [silencing, setSilencing] = useState<string | null>(null);
  const [firingStatus, setFiringStatus] = useState('');
  const [firingActionError, setFiringActionError] = useState<string | null>(null);

  const silenceAlert = async (alert: AlertStateRecord) => {
    const key = alertKey(alert);
    setSilencing(key);
    setFiringActionError(null);
    try {
      const created = await source.createSilence(quickSilence(alert, Date.now()));
      silences.reload();
      setFiringStatus(
        `Silenced ${silenceTarget(created, ruleName, serverName)} until ${formatWhen(parseOptionalTimestamp(created.until), Date.now())}.`,
      );
    } catch (e) {
      setFiringActionError(`Not silenced: ${errorText(e)}`);
    } finally {
      setSilencing(null);
    }
  };

  // ---- rules ----
  const afterRuleChange = () => {
    rules.reload();
    refreshFiring();
  };

  const saveThresholds = async (next: Thresholds) => {
    const saved = await source.setThresholds(next);
    setThresholds(saved);
    afterRuleChange();
  };

  const toggleRule = async (r: AlertRule) => {
    await source.replaceRule(r.id, { ...r, enabled: !r.enabled });
    afterRuleChange();
  };

  const editRule = async (r: AlertRule, changes: RuleEdit) => {
    const plan = planRuleEdit(r, changes, thresholds);
    if (plan.kind === 'thresholds') {
      setThresholds(await source.setThresholds(plan.thresholds));
    } else {
      await source.replaceRule(r.id, plan.rule);
    }
    afterRuleChange();
  };

  const deleteRule = async (r: AlertRule) => {
    await source.deleteRule(r.id);
    afterRuleChange();
  };

  const createRule = async (r: AlertRule) => {
    const created = await source.createRule(r);
    afterRuleChange();
    return created;
  };

  const previewRule = useCallback((r: AlertRule, signal: AbortSignal) => source.previewRule(r, {}, signal), [source]);

  // The metric names of the rule form, from the servers' series (plugin metrics included), read once when it opens.
  const [metrics, setMetrics] = useState<MetricOption[] | null>(null);
  const [metricsWanted, setMetricsWanted] = useState(false);
  const haveServers = servers !== null;
  const serversRef = useRef(servers);
  serversRef.current = servers;
  useEffect(() => {
    if (!metricsWanted || !haveServers) return;
    let cancelled = false;
    const controller = new AbortController();
    const lists: SeriesInfo[][] = [];
    const tasks = (serversRef.current ?? []).slice(0, METRIC_SERVERS).map((s) => async () => {
      lists.push(await source.series(s.server_id, controller.signal));
    });
    // A server whose series cannot be read adds nothing; the others still count.
    void runLimited(tasks, 4).then(() => {
      if (!cancelled) setMetrics(metricOptions(lists));
    });
    return () => {
      cancelled = true;
      controller.abort();
    };
  }, [source, metricsWanted, haveServers]);
  const loadMetrics = () => setMetricsWanted(true);

  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts</h1>
      {isReadOnly(access) && (
        <p className="notice" data-testid="read-only-notice">
          {READ_ONLY_NOTICE}
        </p>
      )}
      {serversError && !servers && <p className="notice">Could not load the servers: {serversError}</p>}

      <section className="panel" aria-labelledby="firing-title">
        <div className="panel-head">
          <h2 id="firing-title">Firing now</h2>
          {sortedFiring !== null && (
            <span className="subtle" data-testid="firing-count">
              {sortedFiring.length === 1 ? '1 alert' : `${sortedFiring.length} alerts`}
            </span>
          )}
        </div>
        {firingError && <p className="notice">Could not load the firing alerts: {firingError}</p>}
        <p role="status" className="action-status" data-testid="firing-status">
          {firingStatus}
        </p>
        {firingActionError && (
          <p className="field-error" role="alert">
            {firingActionError}
          </p>
        )}
        {sortedFiring === null && !firingError && <p className="subtle">Loading…</p>}
        {sortedFiring !== null && sortedFiring.length === 0 && <p data-testid="no-alerts">Nothing is firing.</p>}
        {sortedFiring !== null && sortedFiring.length > 0 && (
          <FiringTable
            firing={sortedFiring}
            rule={rule}
            serverName={serverName}
            silences={liveSilences}
            now={now}
            busy={silencing}
            onSilence={editable ? (a) => void silenceAlert(a) : undefined}
          />
        )}
      </section>

      <EventsPanel
        events={feed?.events ?? null}
        error={eventsError}
        view={view}
        onView={setView}
        older={{ more: before !== null, loading: loadingOlder, error: olderError }}
        onOlder={() => void loadOlder()}
        servers={serverList}
        rules={rules.data ?? []}
        rule={rule}
        serverName={serverName}
        now={now}
      />

      {thresholdsError && <p className="notice">Could not load the thresholds: {thresholdsError}</p>}
      {thresholds && <ThresholdsForm thresholds={thresholds} onSave={editable ? saveThresholds : undefined} />}

      <RulesPanel
        rules={rules.data}
        error={rules.error}
        thresholds={thresholds}
        servers={serverList}
        metrics={metrics}
        editable={editable}
        serverName={serverName}
        onNeedMetrics={loadMetrics}
        onToggle={toggleRule}
        onEdit={editRule}
        onDelete={deleteRule}
        onCreate={createRule}
        onPreview={previewRule}
      />

      <SilencesPanel
        silences={silences.data === null ? null : liveSilences}
        error={silences.error}
        editable={editable}
        rules={rules.data ?? []}
        servers={serverList}
        ruleName={ruleName}
        serverName={serverName}
        now={now}
        onCreate={async (s) => {
          const created = await source.createSilence(s);
          silences.reload();
          return created;
        }}
        onDelete={async (s) => {
          await source.deleteSilence(s.id);
          silences.reload();
        }}
      />

      {notifiers.data !== null && notifiers.data.length > 0 && <NotifiersPanel notifiers={notifiers.data} now={now} />}
      {notifiers.error && <p className="notice">Could not load the notifiers: {notifiers.error}</p>}
    </section>
  );
}
