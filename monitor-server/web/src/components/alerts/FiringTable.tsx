import { alertKey, silenceFor } from '../../lib/alertFeed';
import { formatWhen, MISSING } from '../../lib/format';
import { routeHref } from '../../lib/route';
import { alertValueText, conditionText } from '../../lib/rules';
import { parseOptionalTimestamp } from '../../lib/time';
import type { AlertRule, AlertStateRecord, Silence } from '../../lib/types';
import { Ident, LabelList, SeverityPill, When } from './AlertBits';

/** The alerts firing now, most severe and newest first, each with a one-click silence of an hour (when `onSilence` is given). */
export function FiringTable({
  firing,
  rule,
  serverName,
  silences,
  now,
  busy,
  onSilence,
}: {
  firing: readonly AlertStateRecord[];
  rule: (id: string) => AlertRule | undefined;
  serverName: (id: string) => string;
  silences: readonly Silence[];
  now: number;
  /** The key of the alert whose silence is being created. */
  busy: string | null;
  /** Absent for a token that may not change alert settings: no silence button. */
  onSilence?: (alert: AlertStateRecord) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="data-table stack-table" data-testid="firing-list">
        <caption className="visually-hidden">Alerts firing now</caption>
        <thead>
          <tr>
            <th scope="col">Severity</th>
            <th scope="col">Alert</th>
            <th scope="col">Server</th>
            <th scope="col">Labels</th>
            <th scope="col" className="num">
              Value
            </th>
            <th scope="col">Since</th>
            <th scope="col">Notifications</th>
          </tr>
        </thead>
        <tbody>
          {firing.map((alert) => {
            const r = rule(alert.rule_id);
            const key = alertKey(alert);
            const silence = silenceFor(silences, alert, now);
            const name = serverName(alert.server_id);
            return (
              <tr
                key={key}
                className={`alert-row severity-row-${r?.severity ?? 'warning'}`}
                data-testid="firing-alert"
                data-rule-id={alert.rule_id}
                data-server-id={alert.server_id}
              >
                <td data-label="Severity">
                  <SeverityPill severity={r?.severity} />
                </td>
                <th scope="row" data-label="Alert">
                  {r?.name ?? alert.rule_id}
                  {r && (
                    <span className="subtle condition">
                      <Ident text={conditionText(r)} />
                    </span>
                  )}
                </th>
                <td data-label="Server">
                  <a href={routeHref({ page: 'server', serverId: alert.server_id })}>{name}</a>
                  {name !== alert.server_id && <span className="subtle">{alert.server_id}</span>}
                </td>
                <td data-label="Labels">
                  <LabelList labels={alert.labels} />
                </td>
                <td className="num" data-label="Value">
                  {alertValueText(alert.last_value, r ?? { metric: '' })}
                </td>
                <td data-label="Since">
                  <When at={alert.since} now={now} />
                </td>
                <td data-label="Notifications">
                  {silence && (
                    <span className="silenced" data-testid="alert-silenced">
                      Silenced until {formatWhen(parseOptionalTimestamp(silence.until), now)}
                    </span>
                  )}
                  {onSilence && (
                    <button
                      type="button"
                      onClick={() => onSilence(alert)}
                      disabled={busy === key}
                      data-testid="silence-alert"
                    >
                      Silence 1 h
                      <span className="visually-hidden">
                        : {r?.name ?? alert.rule_id} on {name}
                      </span>
                    </button>
                  )}
                  {!onSilence && !silence && <span className="subtle">{MISSING}</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
