import { useEffect, useId, useState, type FormEvent } from 'react';

import { THRESHOLD_FIELDS, parseThresholds, thresholdInput, type ThresholdField, type ThresholdInput } from '../../lib/alerts';
import { errorText } from '../../lib/async';
import type { Thresholds } from '../../lib/types';

/** The original's three thresholds (`GET`/`POST /api/alerts`); read-only, with no save, without `onSave`. */
export function ThresholdsForm({
  thresholds,
  onSave,
}: {
  thresholds: Thresholds;
  /** Absent for a token that may not change them. */
  onSave?: (t: Thresholds) => Promise<void>;
}) {
  const id = useId();
  const [input, setInput] = useState<ThresholdInput>(() => thresholdInput(thresholds));
  const [errors, setErrors] = useState<Partial<Record<ThresholdField, string>>>({});
  const [status, setStatus] = useState('');
  const [saving, setSaving] = useState(false);

  // Saved elsewhere (a rule's threshold edited in the rules table): the fields follow.
  useEffect(() => setInput(thresholdInput(thresholds)), [thresholds]);
  // Read-only from now on (the access became known): the server's values, not an edit left unsaved.
  const readOnly = !onSave;
  useEffect(() => {
    if (!readOnly) return;
    setInput(thresholdInput(thresholds));
    setErrors({});
    setStatus('');
  }, [readOnly, thresholds]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!onSave) return;
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
    <form className="panel thresholds-form" onSubmit={submit} noValidate data-testid="thresholds-form" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Thresholds</h2>
      <p className="subtle">
        A server whose value exceeds a threshold fires. They apply to every server, as the rules{' '}
        <code>cpu_total_percent</code>, <code>memory_used_percent</code> and <code>disk_used_percent</code> (any
        filesystem).
      </p>
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
            readOnly={readOnly}
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
      {onSave && (
        <div className="field-row">
          <button type="submit" disabled={saving} data-testid="thresholds-save">
            Save thresholds
          </button>
          <span role="status" data-testid="thresholds-status">
            {status}
          </span>
        </div>
      )}
    </form>
  );
}
