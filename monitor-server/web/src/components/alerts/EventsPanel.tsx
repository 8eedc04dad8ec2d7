import { useId } from 'react';

import { eventDetail, transitionText } from '../../lib/alertFeed';
import { routeHref } from '../../lib/route';
import { alertValueText, thresholdText } from '../../lib/rules';
import type { AlertEvent, AlertRule } from '../../lib/types';
import { LabelList, SeverityPill, When } from './AlertBits';

export interface EventsView {
  serverId: string;
  ruleId: string;
}

/** The reading of the page older than the list. */
export interface OlderEvents {
  /** False once a page came back short: there is nothing older to read. */
  more: boolean;
  loading: boolean;
  /** Why the last read failed (the list stays). */
  error: string | null;
}

/** Alert transitions, newest first, filtered by server and rule, live-appended, older pages on demand. */
export function EventsPanel({
  events,
  error,
  view,
  onView,
  older,
  onOlder,
  servers,
  rules,
  rule,
  serverName,
  now,
}: {
  events: readonly AlertEvent[] | null;
  error: string | null;
  view: EventsView;
  onView: (view: EventsView) => void;
  older: OlderEvents;
  onOlder: () => void;
  servers: readonly { id: string; name: string }[];
  rules: readonly AlertRule[];
  rule: (id: string) => AlertRule | undefined;
  serverName: (id: string) => string;
  now: number;
}) {
  const id = useId();
  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Recent events</h2>
      <p className="subtle">Every transition of every alert, newest first; new ones appear as they happen, older ones a page at a time.</p>
      <div className="toolbar">
        <label htmlFor={`${id}-server`}>Server</label>
        <select
          id={`${id}-server`}
          value={view.serverId}
          onChange={(e) => onView({ ...view, serverId: e.target.value })}
          data-testid="events-filter-server"
        >
          <option value="">All servers</option>
          {servers.map((s) => (
            <option key={s.id} value={s.id}>
              {s.name}
            </option>
          ))}
        </select>
        <label htmlFor={`${id}-rule`}>Rule</label>
        <select
          id={`${id}-rule`}
          value={view.ruleId}
          onChange={(e) => onView({ ...view, ruleId: e.target.value })}
          data-testid="events-filter-rule"
        >
          <option value="">All rules</option>
          {rules.map((r) => (
            <option key={r.id} value={r.id}>
              {r.name}
            </option>
          ))}
        </select>
      </div>
      {error && <p className="notice">Could not load the events: {error}</p>}
      {events === null && !error && <p className="subtle">Loading…</p>}
      {events !== null && events.length === 0 && <p data-testid="no-events">No event yet.</p>}
      {events !== null && events.length > 0 && (
        <div className="table-wrap">
          <table className="data-table stack-table" data-testid="events-table">
            <caption className="visually-hidden">Alert events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Change</th>
                <th scope="col">Alert</th>
                <th scope="col">Server</th>
                <th scope="col">Labels</th>
                <th scope="col" className="num">
                  Value
                </th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => {
                const r = rule(e.rule_id);
                const valueRule: Pick<AlertRule, 'metric' | 'function'> = r && r.metric === e.metric ? r : { metric: e.metric };
                return (
                  <tr key={`${e.id}@${String(e.at)}`} className="event-row" data-testid="event-row" data-state={e.state}>
                    <td data-label="When">
                      <When at={e.at} now={now} />
                    </td>
                    <td data-label="Change">
                      <span className={`pill change-pill change-${e.state}`}>{transitionText(e)}</span>
                      <span className="subtle">from {e.from}</span>
                    </td>
                    <th scope="row" data-label="Alert">
                      <SeverityPill severity={e.severity} /> {e.rule_name || e.rule_id}
                      {eventDetail(e) && <span className="subtle event-message">{eventDetail(e)}</span>}
                    </th>
                    <td data-label="Server">
                      <a href={routeHref({ page: 'server', serverId: e.server_id })}>{serverName(e.server_id)}</a>
                    </td>
                    <td data-label="Labels">
                      <LabelList labels={e.labels} />
                    </td>
                    <td className="num" data-label="Value">
                      {e.value === null && (e.state === 'resolved' || e.state === 'inactive') && valueRule.function?.kind !== 'seconds_until'
                        ? 'no longer reported'
                        : alertValueText(e.value, valueRule)}
                      <span className="subtle">threshold {thresholdText(e.threshold, valueRule)}</span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {events !== null && events.length > 0 && (
        <div className="toolbar">
          {older.more && (
            <button type="button" disabled={older.loading} onClick={onOlder} data-testid="events-older">
              {older.loading ? 'Loading older events…' : 'Show older events'}
            </button>
          )}
          <span className="subtle" aria-live="polite">
            {!older.more && <span data-testid="events-end">No older events.</span>}
            {older.more && older.loading && <span className="visually-hidden">Loading older events…</span>}
          </span>
        </div>
      )}
      {older.error && (
        <p className="field-error" role="alert" data-testid="events-older-error">
          Could not load older events: {older.error}
        </p>
      )}
    </section>
  );
}
