import { useCallback, useEffect, useRef, useState } from 'react';

import { errorText, isAbortError } from '../../lib/async';
import { formatWhen } from '../../lib/format';
import { previewNotes, previewRows, previewSummary } from '../../lib/preview';
import { parseTimestamp } from '../../lib/time';
import type { AlertRule, RulePreview } from '../../lib/types';
import { LabelList } from './AlertBits';

/** Asks for a rule's preview on the last 24 h. */
export type PreviewRule = (rule: AlertRule, signal: AbortSignal) => Promise<RulePreview>;

interface Outcome<I> {
  /** The form's input it is for: a newer input makes it stale. */
  input: I;
  rule: AlertRule;
  answer: RulePreview;
  /** When it came, Unix milliseconds (for "the last 24 h"). */
  at: number;
}

export interface RulePreviewState {
  loading: boolean;
  /** Why the last preview failed, for the input as it is. */
  error: string | null;
  result: { rule: AlertRule; answer: RulePreview; at: number } | null;
  /** True when the form changed since the result's preview. */
  stale: boolean;
}

/**
 * A form's preview: `run` asks for the rule read from `input` (an earlier
 * request still running is aborted); a result stays, marked stale, once
 * `input` changes; an error replaces it, and goes once `input` changes.
 */
export function useRulePreview<I>(onPreview: PreviewRule, input: I) {
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<{ input: I; message: string } | null>(null);
  const [outcome, setOutcome] = useState<Outcome<I> | null>(null);
  const running = useRef<AbortController | null>(null);
  useEffect(() => () => running.current?.abort(), []);

  const run = async (rule: AlertRule) => {
    running.current?.abort();
    const controller = new AbortController();
    running.current = controller;
    const asked = input;
    setLoading(true);
    setError(null);
    try {
      const answer = await onPreview(rule, controller.signal);
      if (!controller.signal.aborted) setOutcome({ input: asked, rule, answer, at: Date.now() });
    } catch (e) {
      if (!isAbortError(e) && !controller.signal.aborted) {
        // The error takes the place of an earlier result.
        setOutcome(null);
        setError({ input: asked, message: errorText(e) });
      }
    } finally {
      if (running.current === controller) {
        running.current = null;
        setLoading(false);
      }
    }
  };

  const reset = useCallback(() => {
    running.current?.abort();
    running.current = null;
    setLoading(false);
    setError(null);
    setOutcome(null);
  }, []);

  const state: RulePreviewState = {
    loading,
    error: error !== null && error.input === input ? error.message : null,
    result: outcome,
    stale: outcome !== null && outcome.input !== input,
  };
  return { state, run, reset };
}

/**
 * What a preview found, below a rule form: the summary (also announced),
 * notes on how history was read, and the transitions, oldest first, the
 * first 50.
 */
export function RulePreviewResult({
  state,
  serverName,
  className,
}: {
  state: RulePreviewState;
  serverName: (id: string) => string;
  className?: string;
}) {
  const { result } = state;
  const summary = result ? previewSummary(result.answer, serverName, result.at) : '';
  const announced = state.loading ? 'Replaying the rule on the stored history…' : state.error ? '' : summary;
  const notes = result ? previewNotes(result.answer, result.rule, serverName) : [];
  const { rows, more } = result ? previewRows(result.answer, result.rule) : { rows: [], more: 0 };
  const to = result ? parseTimestamp(result.answer.to) : 0;
  return (
    <>
      <p className="visually-hidden" aria-live="polite">
        {announced}
      </p>
      {state.error && (
        <p className={`field-error ${className ?? ''}`} role="alert" data-testid="rule-preview-error">
          No preview: {state.error}
        </p>
      )}
      {result && (
        <div className={`rule-preview ${className ?? ''}`} data-testid="rule-preview-result" data-stale={state.stale}>
          {state.stale && (
            <p className="notice" data-testid="rule-preview-stale">
              The form changed since this preview: it shows the rule as it was. Preview again to see the rule as it is.
            </p>
          )}
          <p data-testid="rule-preview-summary">
            <strong>{summary}</strong>
          </p>
          {notes.map((note) => (
            <p key={note.kind + note.text} className="subtle" data-testid={`rule-preview-note-${note.kind}`}>
              {note.text}
            </p>
          ))}
          {rows.length > 0 && <p className="subtle">The transitions it would have made, oldest first:</p>}
          {rows.length > 0 && (
            <div className="table-wrap">
              <table className="data-table stack-table" data-testid="rule-preview-table">
                <caption className="visually-hidden">Transitions the rule would have made, oldest first</caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Server</th>
                    <th scope="col">Labels</th>
                    <th scope="col">Change</th>
                    <th scope="col" className="num">
                      Value
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => (
                    <tr key={row.key} data-testid="rule-preview-row" data-state={row.state}>
                      <td data-label="When">
                        <time dateTime={new Date(row.at).toISOString()}>{formatWhen(row.at, to)}</time>
                      </td>
                      <th scope="row" data-label="Server">
                        {serverName(row.serverId)}
                      </th>
                      <td data-label="Labels">
                        <LabelList labels={row.labels} />
                      </td>
                      <td data-label="Change">
                        <span className={`pill change-pill change-${row.state}`}>{row.change}</span>
                      </td>
                      <td className="num" data-label="Value">
                        {row.value}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {more > 0 && (
            <p className="subtle" data-testid="rule-preview-more">
              +{more} later {more === 1 ? 'transition' : 'transitions'}, not listed.
            </p>
          )}
        </div>
      )}
    </>
  );
}
