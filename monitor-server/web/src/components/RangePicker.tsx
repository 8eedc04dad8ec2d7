import { useId, useState, type FormEvent } from 'react';

import {
  PRESETS,
  fromLocalInput,
  resolveRange,
  toLocalInput,
  type TimeRange,
} from '../lib/timeRange';

/** Live windows (15 min to 30 d) and a custom range with two date-time fields. */
export function RangePicker({ range, onChange }: { range: TimeRange; onChange: (range: TimeRange) => void }) {
  const id = useId();
  const [editing, setEditing] = useState(false);
  const [fromText, setFromText] = useState('');
  const [toText, setToText] = useState('');
  const [error, setError] = useState<string | null>(null);

  const openCustom = () => {
    if (editing) {
      setEditing(false);
      return;
    }
    const resolved = resolveRange(range, Date.now() / 1000);
    setFromText(toLocalInput(resolved.from));
    setToText(toLocalInput(resolved.to));
    setError(null);
    setEditing(true);
  };

  const apply = (event: FormEvent) => {
    event.preventDefault();
    const from = fromLocalInput(fromText);
    const to = fromLocalInput(toText);
    if (from === null || to === null) {
      setError('Enter both dates and times.');
      return;
    }
    if (from >= to) {
      setError('The start must be before the end.');
      return;
    }
    setEditing(false);
    onChange({ kind: 'fixed', from, to });
  };

  return (
    <div className="range-picker">
      <div role="group" aria-label="Time range" className="button-group">
        {PRESETS.map((preset) => (
          <button
            key={preset.id}
            type="button"
            aria-pressed={range.kind === 'live' && range.preset === preset.id}
            onClick={() => {
              setEditing(false);
              onChange({ kind: 'live', preset: preset.id });
            }}
          >
            {preset.label}
          </button>
        ))}
        <button
          type="button"
          aria-pressed={range.kind === 'fixed'}
          aria-expanded={editing}
          aria-controls={`${id}-custom`}
          onClick={openCustom}
        >
          Custom…
        </button>
      </div>
      {editing && (
        <form id={`${id}-custom`} className="custom-range" onSubmit={apply}>
          <label>
            From
            <input type="datetime-local" value={fromText} onChange={(e) => setFromText(e.target.value)} required />
          </label>
          <label>
            To
            <input type="datetime-local" value={toText} onChange={(e) => setToText(e.target.value)} required />
          </label>
          <button type="submit">Show</button>
          {error && (
            <p className="field-error" role="alert">
              {error}
            </p>
          )}
        </form>
      )}
    </div>
  );
}
