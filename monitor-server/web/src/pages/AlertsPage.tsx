import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';

import { useNow, useServers } from '../hooks';
import {
  THRESHOLD_FIELDS,
  diffAlerts,
  firingAlerts,
  parseThresholds,
  thresholdInput,
  type AlertChange,
  type FiringAlert,
  type ThresholdField,
  type ThresholdInput,
} from '../lib/alerts';
import { errorText, isAbortError } from '../lib/async';
import { formatAgo, formatPercent } from '../lib/format';
import { routeHref } from '../lib/route';
import type { DataSource } from '../lib/source';
import type { Thresholds } from '../lib/types';

/** Changes kept in the page's list. */
const MAX_CHANGES = 50;

function ThresholdsForm({
  thresholds,
  onSave,
}: {
  thresholds: Thresholds;
  onSave: (t: Thresholds) => Promise<void>;
}) {
  const id = useId();
  const [input, setInput] = useState<ThresholdInput>(() => thresholdInput(thresholds));
  const [errors, setErrors] = useState<Partial<Record<ThresholdField, string>>>({});
  const [status, setStatus] = useState('');
  const [saving, setSaving] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseThresholds(input);
    if (parsed.thresholds === null) {
      setErrors(parsed.errors);
      setStatus('');
      return;
    }
    setErrors({});
    setSaving(true);
    setStatus('Saving…');
    try {
      await onSave(parsed.thresholds);
      setStatus('Saved.');
    } catch (e) {
      setStatus(`Not saved: ${errorText(e)}`);
    } finally {
      setSaving(false);
    }
  };

  return (
    <form className="panel thresholds-form" onSubmit={submit} noValidate data-testid="thresholds-form">
      <h2>Thresholds</h2>
      <p className="subtle">An online server whose value exceeds a threshold is firing. These apply to every server.</p>
      {THRESHOLD_FIELDS.map(({ field, label }) => (
        <div className="field-row" key={field}>
          <label htmlFor={`${id}-${field}`}>{label}</label>
          <input
            id={`${id}-${field}`}
            name={field}
            type="number"
            inputMode="decimal"
            min={0}
            max={100}
            step="any"
            value={input[field]}
            aria-invalid={errors[field] ? true : undefined}
            aria-describedby={errors[field] ? `${id}-${field}-error` : undefined}
            onChange={(e) => setInput({ ...input, [field]: e.target.value })}
            data-testid={`threshold-${field}`}
          />
          <span aria-hidden="true">%</span>
          {errors[field] && (
            <span className="field-error" id={`${id}-${field}-error`}>
              {errors[field]}
            </span>
          )}
        </div>
      ))}
      <div className="field-row">
        <button type="submit" disabled={saving} data-testid="thresholds-save">
          Save thresholds
        </button>
        <span role="status" data-testid="thresholds-status">
          {status}
        </span>
      </div>
    </form>
  );
}

function describe(alert: FiringAlert): string {
  if (alert.kind === 'offline') return 'Offline: no data for three intervals';
  return `${alert.label} ${formatPercent(alert.value)} above ${formatPercent(alert.threshold)}`;
}

export function AlertsPage({ source }: { source: DataSource }) {
  const { servers, error } = useServers(source);
  const [thresholds, setThresholds] = useState<Thresholds | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [changes, setChanges] = useState<AlertChange[]>([]);
  const previous = useRef<FiringAlert[] | null>(null);
  const now = useNow(5000);

  useEffect(() => {
    const controller = new AbortController();
    source.thresholds(controller.signal).then(setThresholds, (e: unknown) => {
      if (!isAbortError(e)) setLoadError(errorText(e));
    });
    return () => controller.abort();
  }, [source]);

  const firing = useMemo(
    () => (servers && thresholds ? firingAlerts(servers, thresholds) : null),
    [servers, thresholds],
  );

  // The page's own record of what started and stopped firing while it is open.
  useEffect(() => {
    if (firing === null) return;
    if (previous.current !== null) {
      const diff = diffAlerts(previous.current, firing, Date.now());
      if (diff.length > 0) setChanges((list) => [...diff, ...list].slice(0, MAX_CHANGES));
    }
    previous.current = firing;
  }, [firing]);

  const save = async (next: Thresholds) => {
    setThresholds(await source.setThresholds(next));
  };

  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts</h1>
      {loadError && <p className="notice">Could not load the thresholds: {loadError}</p>}
      {error && !servers && <p className="notice">Could not load the servers: {error}</p>}

      <section className="panel" aria-labelledby="firing-title">
        <h2 id="firing-title">Firing now</h2>
        {firing === null && <p className="subtle">Loading…</p>}
        {firing !== null && firing.length === 0 && <p data-testid="no-alerts">Nothing is firing.</p>}
        {firing !== null && firing.length > 0 && (
          <ul className="alert-list" data-testid="firing-list">
            {firing.map((alert) => (
              <li key={alert.key} className={`alert alert-${alert.kind === 'offline' ? 'offline' : 'threshold'}`} data-testid="firing-alert">
                <a href={routeHref({ page: 'server', serverId: alert.serverId })}>{alert.serverName}</a>
                <span>{describe(alert)}</span>
              </li>
            ))}
          </ul>
        )}
      </section>

      {thresholds && <ThresholdsForm thresholds={thresholds} onSave={save} />}

      <section className="panel" aria-labelledby="changes-title">
        <h2 id="changes-title">Recent changes</h2>
        <p className="subtle">What started or stopped firing since this page was opened.</p>
        {changes.length === 0 ? (
          <p>No change yet.</p>
        ) : (
          <ul className="alert-list">
            {changes.map((c) => (
              <li key={`${c.alert.key}@${c.atMs}@${c.change}`} className={`change change-${c.change}`}>
                <span className="pill">{c.change}</span>
                <span>
                  {c.alert.serverName}: {describe(c.alert)}
                </span>
                <time className="subtle" dateTime={new Date(c.atMs).toISOString()}>
                  {formatAgo(c.atMs, now)}
                </time>
              </li>
            ))}
          </ul>
        )}
      </section>
    </section>
  );
}
