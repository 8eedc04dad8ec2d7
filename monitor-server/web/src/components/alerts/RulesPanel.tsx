import { Fragment, useId, useState, type FormEvent } from 'react';

import { errorText } from '../../lib/async';
import { PREVIEW_BUTTON_TEXT } from '../../lib/preview';
import {
  OFFLINE_METRIC,
  SEVERITIES,
  conditionText,
  isCustomized,
  overridesText,
  parseRuleEdit,
  ruleEditInput,
  ruleOrigin,
  scopeText,
  type MetricOption,
  type RuleEdit,
  type RuleEditField,
  type RuleEditInput,
} from '../../lib/rules';
import type { AlertRule, Severity, Thresholds } from '../../lib/types';
import { Ident, SeverityPill } from './AlertBits';
import { RuleForm } from './RuleForm';
import { RulePreviewResult, useRulePreview, type PreviewRule } from './RulePreview';

const ORIGIN_TEXT = { threshold: 'threshold', builtin: 'built in', user: 'yours' } as const;

function EditRow({
  rule,
  colSpan,
  followsThresholds,
  serverName,
  onSave,
  onCancel,
  onPreview,
}: {
  rule: AlertRule;
  colSpan: number;
  followsThresholds: boolean;
  serverName: (id: string) => string;
  onSave: (changes: RuleEdit) => Promise<void>;
  onCancel: () => void;
  onPreview: PreviewRule;
}) {
  const id = useId();
  const [input, setInput] = useState<RuleEditInput>(() => ruleEditInput(rule));
  const [errors, setErrors] = useState<Partial<Record<RuleEditField, string>>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const preview = useRulePreview(onPreview, input);
  // A host-offline rule counts the time between reports, which stored history does not replay.
  const previewable = rule.metric !== OFFLINE_METRIC;

  /** Previews the rule with the form's changes, after the same checks as saving. */
  const runPreview = () => {
    const parsed = parseRuleEdit(input);
    if (parsed.changes === null) {
      setErrors(parsed.errors);
      return;
    }
    setErrors({});
    void preview.run({ ...rule, ...parsed.changes });
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseRuleEdit(input);
    if (parsed.changes === null) {
      setErrors(parsed.errors);
      return;
    }
    setErrors({});
    setServerError(null);
    setSaving(true);
    try {
      await onSave(parsed.changes);
    } catch (e) {
      setServerError(errorText(e));
      setSaving(false);
    }
  };

  const field = (name: RuleEditField, label: string, extra: { step?: string; min?: number; hint?: string } = {}) => (
    <div className="stack-field">
      <label htmlFor={`${id}-${name}`}>{label}</label>
      <input
        id={`${id}-${name}`}
        type="number"
        inputMode="decimal"
        step={extra.step ?? 'any'}
        min={extra.min}
        value={input[name]}
        onChange={(e) => setInput({ ...input, [name]: e.target.value })}
        aria-invalid={errors[name] ? true : undefined}
        aria-describedby={errors[name] ? `${id}-${name}-error` : extra.hint ? `${id}-${name}-hint` : undefined}
        data-testid={`rule-edit-${name === 'forSecs' ? 'for' : name === 'resolveThreshold' ? 'resolve' : 'threshold'}`}
      />
      {extra.hint && !errors[name] && (
        <span className="subtle field-hint" id={`${id}-${name}-hint`}>
          {extra.hint}
        </span>
      )}
      {errors[name] && (
        <span className="field-error" id={`${id}-${name}-error`}>
          {errors[name]}
        </span>
      )}
    </div>
  );

  return (
    <tr className="edit-row">
      <td colSpan={colSpan}>
        <form className="inline-form" onSubmit={submit} noValidate aria-label={`Edit ${rule.name}`} data-testid="rule-edit-form">
          {field('threshold', 'Threshold', {
            hint: rule.function?.kind === 'seconds_until' ? 'in seconds (86400 = 1 d)' : rule.metric === 'host_offline' ? 'missed reporting intervals' : undefined,
          })}
          {field('resolveThreshold', 'Resolves at (optional)', { hint: 'empty: where it fires' })}
          {field('forSecs', 'For (seconds)', { step: '1', min: 0 })}
          <div className="stack-field">
            <label htmlFor={`${id}-severity`}>Severity</label>
            <select
              id={`${id}-severity`}
              value={input.severity}
              onChange={(e) => setInput({ ...input, severity: e.target.value as Severity })}
            >
              {SEVERITIES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <div className="form-actions">
            <button type="submit" disabled={saving} data-testid="rule-edit-save">
              Save
            </button>
            <button type="button" onClick={onCancel}>
              Cancel
            </button>
            {previewable && (
              <button type="button" disabled={preview.state.loading} onClick={runPreview} data-testid="rule-preview">
                {preview.state.loading ? 'Previewing…' : PREVIEW_BUTTON_TEXT}
              </button>
            )}
          </div>
          {followsThresholds && (
            <p className="subtle form-note">
              A change of the threshold alone is saved in the Thresholds form above; any other change stores a rule
              that takes this one&apos;s place (Reset brings the threshold back).
            </p>
          )}
          {serverError && (
            <p className="field-error form-note" role="alert" data-testid="rule-edit-error">
              Not saved: {serverError}
            </p>
          )}
          <RulePreviewResult state={preview.state} serverName={serverName} className="form-note" />
        </form>
      </td>
    </tr>
  );
}

export interface RulesPanelProps {
  rules: readonly AlertRule[] | null;
  error: string | null;
  thresholds: Thresholds | null;
  servers: readonly { id: string; name: string; tags: readonly string[] }[];
  metrics: MetricOption[] | null;
  /** False for a token that may not change alert settings: no actions, no edit, no new rule (nor its preview). */
  editable: boolean;
  /** A server's name for people, by id. */
  serverName: (id: string) => string;
  onNeedMetrics: () => void;
  onToggle: (rule: AlertRule) => Promise<void>;
  onEdit: (rule: AlertRule, changes: RuleEdit) => Promise<void>;
  /** Deletes a user rule, or a stored replacement of a built-in one (which comes back). */
  onDelete: (rule: AlertRule) => Promise<void>;
  onCreate: (rule: AlertRule) => Promise<AlertRule>;
  /** What a rule would have done on the last 24 h of stored history. */
  onPreview: PreviewRule;
}

/** The rules in force: a table with enable/disable, edit, delete or reset, and the form of a new rule (when editable). */
export function RulesPanel(props: RulesPanelProps) {
  const { rules, error, thresholds, editable } = props;
  const id = useId();
  const [editing, setEditing] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const [actionError, setActionError] = useState<string | null>(null);

  const act = async (rule: AlertRule, what: string, run: () => Promise<void>) => {
    setBusy(rule.id);
    setActionError(null);
    setStatus('');
    try {
      await run();
      setStatus(what);
    } catch (e) {
      setActionError(`${rule.name}: ${errorText(e)}`);
    } finally {
      setBusy(null);
      setConfirming(null);
    }
  };

  const COLUMNS = editable ? 7 : 6;
  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Rules</h2>
      <p className="subtle">
        The rules in force: the three thresholds, the built-in rules and yours.
        {editable && ' A built-in rule can be changed or turned off; Reset brings back the original.'}
      </p>
      {error && <p className="notice">Could not load the rules: {error}</p>}
      {rules === null && !error && <p className="subtle">Loading…</p>}
      <p role="status" className="action-status" data-testid="rules-status">
        {status}
      </p>
      {actionError && (
        <p className="field-error" role="alert" data-testid="rules-error">
          {actionError}
        </p>
      )}
      {rules !== null && (
        <div className="table-wrap">
          <table className="data-table stack-table rules-table" data-testid="rules-table">
            <caption className="visually-hidden">Alert rules in force</caption>
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Metric</th>
                <th scope="col">Condition</th>
                <th scope="col">Severity</th>
                <th scope="col">Scope</th>
                <th scope="col">Enabled</th>
                {editable && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {rules.map((rule) => {
                const origin = ruleOrigin(rule.id);
                const customized = isCustomized(rule, thresholds);
                const overrides = overridesText(rule);
                const removable = origin === 'user' || customized;
                return (
                  <Fragment key={rule.id}>
                    <tr
                      className={rule.enabled ? 'rule-row' : 'rule-row rule-disabled'}
                      data-testid="rule-row"
                      data-rule-id={rule.id}
                      data-enabled={rule.enabled}
                    >
                      <th scope="row" data-label="Rule">
                        {rule.name}
                        <span className="subtle">
                          <code>
                            <Ident text={rule.id} />
                          </code>{' '}
                          · {ORIGIN_TEXT[origin]}
                          {customized ? ', changed' : ''}
                        </span>
                      </th>
                      <td data-label="Metric">
                        <code className="ident">
                          <Ident text={rule.metric} />
                        </code>
                      </td>
                      <td data-label="Condition">
                        <code className="ident" data-testid="rule-condition">
                          <Ident text={conditionText(rule)} />
                        </code>
                      </td>
                      <td data-label="Severity">
                        <SeverityPill severity={rule.severity} />
                      </td>
                      <td data-label="Scope">
                        {scopeText(rule.scope)}
                        {overrides && <span className="subtle">overrides: {overrides}</span>}
                      </td>
                      <td data-label="Enabled">
                        <span className={rule.enabled ? 'pill state-ok' : 'pill state-off'}>{rule.enabled ? 'on' : 'off'}</span>
                      </td>
                      {editable && (
                        <td data-label="Actions">
                          <div className="row-actions">
                            <button
                              type="button"
                              disabled={busy === rule.id}
                              onClick={() =>
                                void act(rule, `${rule.name} ${rule.enabled ? 'disabled' : 'enabled'}.`, () => props.onToggle(rule))
                              }
                              data-testid="rule-toggle"
                            >
                              {rule.enabled ? 'Disable' : 'Enable'}
                              <span className="visually-hidden"> {rule.name}</span>
                            </button>
                            <button
                              type="button"
                              aria-expanded={editing === rule.id}
                              onClick={() => setEditing(editing === rule.id ? null : rule.id)}
                              data-testid="rule-edit"
                            >
                              Edit<span className="visually-hidden"> {rule.name}</span>
                            </button>
                            {removable && confirming !== rule.id && (
                              <button
                                type="button"
                                className="danger"
                                disabled={busy === rule.id}
                                onClick={() => setConfirming(rule.id)}
                                data-testid={origin === 'user' ? 'rule-delete' : 'rule-reset'}
                              >
                                {origin === 'user' ? 'Delete' : 'Reset'}
                                <span className="visually-hidden"> {rule.name}</span>
                              </button>
                            )}
                            {removable && confirming === rule.id && (
                              <>
                                <button
                                  type="button"
                                  className="danger"
                                  disabled={busy === rule.id}
                                  onClick={() =>
                                    void act(
                                      rule,
                                      origin === 'user' ? `${rule.name} deleted.` : `${rule.name} reset to the original.`,
                                      () => props.onDelete(rule),
                                    )
                                  }
                                  data-testid="rule-confirm"
                                >
                                  {origin === 'user' ? 'Confirm delete' : 'Confirm reset'}
                                  <span className="visually-hidden"> of {rule.name}</span>
                                </button>
                                <button type="button" onClick={() => setConfirming(null)}>
                                  Cancel
                                </button>
                              </>
                            )}
                          </div>
                        </td>
                      )}
                    </tr>
                    {editable && editing === rule.id && (
                      <EditRow
                        rule={rule}
                        colSpan={COLUMNS}
                        followsThresholds={origin === 'threshold' && !customized}
                        serverName={props.serverName}
                        onPreview={props.onPreview}
                        onCancel={() => setEditing(null)}
                        onSave={async (changes) => {
                          await props.onEdit(rule, changes);
                          setEditing(null);
                          setActionError(null);
                          setStatus(`${rule.name} saved.`);
                        }}
                      />
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {editable && (
        <RuleForm
          servers={props.servers}
          metrics={props.metrics}
          serverName={props.serverName}
          onPreview={props.onPreview}
          onOpen={props.onNeedMetrics}
          onCreate={async (rule) => {
            const created = await props.onCreate(rule);
            setStatus(`Rule ${created.name} created (id ${created.id}).`);
            return created;
          }}
        />
      )}
    </section>
  );
}
