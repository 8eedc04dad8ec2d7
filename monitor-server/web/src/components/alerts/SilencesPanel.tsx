import { useId, useState, type FormEvent } from 'react';

import { errorText } from '../../lib/async';
import { formatIn, formatWhen } from '../../lib/format';
import {
  SILENCE_PRESETS,
  buildSilence,
  silenceTarget,
  type SilenceDuration,
  type SilenceField,
  type SilenceInput,
} from '../../lib/silences';
import { parseOptionalTimestamp } from '../../lib/time';
import { toLocalInput } from '../../lib/timeRange';
import type { AlertRule, NewSilence, Silence } from '../../lib/types';

const EMPTY: SilenceInput = { ruleId: '', serverId: '', duration: '1h', customUntil: '', comment: '' };

/** Silences not yet over, ended with one click, and the form of a new one (when editable). */
export function SilencesPanel({
  silences,
  error,
  editable,
  rules,
  servers,
  ruleName,
  serverName,
  now,
  onCreate,
  onDelete,
}: {
  silences: readonly Silence[] | null;
  error: string | null;
  /** False for a token that may not change alert settings: no "End now", no form. */
  editable: boolean;
  rules: readonly AlertRule[];
  servers: readonly { id: string; name: string }[];
  ruleName: (id: string) => string;
  serverName: (id: string) => string;
  now: number;
  onCreate: (silence: NewSilence) => Promise<Silence>;
  onDelete: (silence: Silence) => Promise<void>;
}) {
  const id = useId();
  const [input, setInput] = useState<SilenceInput>(EMPTY);
  const [errors, setErrors] = useState<Partial<Record<SilenceField, string>>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [status, setStatus] = useState('');
  const [deleting, setDeleting] = useState<string | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const built = buildSilence(input, Date.now());
    if (built.silence === null) {
      setErrors(built.errors);
      setServerError(null);
      return;
    }
    setErrors({});
    setServerError(null);
    setSaving(true);
    try {
      const created = await onCreate(built.silence);
      setStatus(`Silenced ${silenceTarget(created, ruleName, serverName)} until ${formatWhen(parseOptionalTimestamp(created.until), Date.now())}.`);
      setInput(EMPTY);
    } catch (e) {
      setServerError(errorText(e));
    } finally {
      setSaving(false);
    }
  };

  const end = async (silence: Silence) => {
    setDeleting(silence.id);
    setDeleteError(null);
    try {
      await onDelete(silence);
      setStatus(`Silence of ${silenceTarget(silence, ruleName, serverName)} ended.`);
    } catch (e) {
      setDeleteError(errorText(e));
    } finally {
      setDeleting(null);
    }
  };

  const chooseDuration = (duration: SilenceDuration) => {
    setInput((i) => ({
      ...i,
      duration,
      customUntil: duration === 'custom' && i.customUntil === '' ? toLocalInput(Date.now() / 1000 + 2 * 3600) : i.customUntil,
    }));
  };

  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Silences</h2>
      <p className="subtle">
        A silence holds the notifications of a rule, a server or a rule on a server until a time; the alerts are still
        evaluated and listed. One still firing when its silence ends is notified then.
      </p>
      {error && <p className="notice">Could not load the silences: {error}</p>}
      <p role="status" className="action-status" data-testid="silence-status">
        {status}
      </p>
      {deleteError && (
        <p className="field-error" role="alert">
          Not ended: {deleteError}
        </p>
      )}
      {silences !== null && silences.length === 0 && <p data-testid="no-silences">No silence is active.</p>}
      {silences !== null && silences.length > 0 && (
        <div className="table-wrap">
          <table className="data-table stack-table" data-testid="silences-table">
            <caption className="visually-hidden">Active silences, ending soonest first</caption>
            <thead>
              <tr>
                <th scope="col">Silences</th>
                <th scope="col">Until</th>
                <th scope="col">Comment</th>
                {editable && <th scope="col">Action</th>}
              </tr>
            </thead>
            <tbody>
              {silences.map((s) => {
                const until = parseOptionalTimestamp(s.until);
                const target = silenceTarget(s, ruleName, serverName);
                return (
                  <tr key={s.id} data-testid="silence-row" data-silence-id={s.id}>
                    <th scope="row" data-label="Silences">
                      {target}
                    </th>
                    <td data-label="Until">
                      <time dateTime={until === null ? undefined : new Date(until).toISOString()}>
                        {formatWhen(until, now)}
                        <span className="subtle">{formatIn(until, now)}</span>
                      </time>
                    </td>
                    <td data-label="Comment" className="wrap-anywhere">
                      {s.comment || <span className="subtle">—</span>}
                    </td>
                    {editable && (
                      <td data-label="Action">
                        <button type="button" disabled={deleting === s.id} onClick={() => void end(s)} data-testid="silence-delete">
                          End now<span className="visually-hidden">: silence of {target}</span>
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      {editable && (
        <form className="silence-form" onSubmit={submit} noValidate aria-labelledby={`${id}-new`} data-testid="silence-form">
          <h3 id={`${id}-new`}>New silence</h3>
          <div className="form-grid">
            <div className="stack-field">
              <label htmlFor={`${id}-rule`}>Rule</label>
              <select
                id={`${id}-rule`}
                value={input.ruleId}
                onChange={(e) => setInput({ ...input, ruleId: e.target.value })}
                aria-invalid={errors.target ? true : undefined}
                aria-describedby={errors.target ? `${id}-target-error` : undefined}
                data-testid="silence-rule"
              >
                <option value="">Every rule</option>
                {rules.map((r) => (
                  <option key={r.id} value={r.id}>
                    {r.name}
                  </option>
                ))}
              </select>
            </div>
            <div className="stack-field">
              <label htmlFor={`${id}-server`}>Server</label>
              <select
                id={`${id}-server`}
                value={input.serverId}
                onChange={(e) => setInput({ ...input, serverId: e.target.value })}
                aria-invalid={errors.target ? true : undefined}
                aria-describedby={errors.target ? `${id}-target-error` : undefined}
                data-testid="silence-server"
              >
                <option value="">Every server</option>
                {servers.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            </div>
          </div>
          {errors.target && (
            <p className="field-error" id={`${id}-target-error`}>
              {errors.target}
            </p>
          )}
          <fieldset className="duration-choice">
            <legend>For</legend>
            {SILENCE_PRESETS.map((p) => (
              <label key={p.id} className="check">
                <input
                  type="radio"
                  name={`${id}-duration`}
                  value={p.id}
                  checked={input.duration === p.id}
                  onChange={() => chooseDuration(p.id)}
                  data-testid={`silence-preset-${p.id}`}
                />
                {p.label}
              </label>
            ))}
            <label className="check">
              <input
                type="radio"
                name={`${id}-duration`}
                value="custom"
                checked={input.duration === 'custom'}
                onChange={() => chooseDuration('custom')}
                data-testid="silence-preset-custom"
              />
              until…
            </label>
            {input.duration === 'custom' && (
              <span className="stack-field">
                <label htmlFor={`${id}-until`}>Until (local time)</label>
                <input
                  id={`${id}-until`}
                  type="datetime-local"
                  value={input.customUntil}
                  onChange={(e) => setInput({ ...input, customUntil: e.target.value })}
                  aria-invalid={errors.customUntil ? true : undefined}
                  aria-describedby={errors.customUntil ? `${id}-until-error` : undefined}
                  data-testid="silence-until"
                />
                {errors.customUntil && (
                  <span className="field-error" id={`${id}-until-error`}>
                    {errors.customUntil}
                  </span>
                )}
              </span>
            )}
          </fieldset>
          <div className="stack-field">
            <label htmlFor={`${id}-comment`}>Comment (optional)</label>
            <input
              id={`${id}-comment`}
              value={input.comment}
              maxLength={500}
              placeholder="maintenance window"
              onChange={(e) => setInput({ ...input, comment: e.target.value })}
              data-testid="silence-comment"
            />
          </div>
          <div className="form-actions">
            <button type="submit" disabled={saving} data-testid="silence-save">
              Silence
            </button>
          </div>
          {serverError && (
            <p className="field-error" role="alert" data-testid="silence-error">
              Not created: {serverError}
            </p>
          )}
        </form>
      )}
    </section>
  );
}
