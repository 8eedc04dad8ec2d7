import { useId, useMemo, useState, type FormEvent, type ReactNode } from 'react';

import { errorText } from '../../lib/async';
import { PREVIEW_BUTTON_TEXT } from '../../lib/preview';
import {
  COMPARISONS,
  EMPTY_RULE_INPUT,
  SEVERITIES,
  conditionText,
  labelsHint,
  parseRuleInput,
  type FunctionKind,
  type MetricOption,
  type RuleField,
  type RuleInput,
} from '../../lib/rules';
import type { AlertRule, Comparison, RuleScope, Severity } from '../../lib/types';
import { RulePreviewResult, useRulePreview, type PreviewRule } from './RulePreview';

/** The fields typed as text. */
type TextField = Exclude<RuleField, 'scope'>;

const FUNCTIONS: readonly { kind: FunctionKind; label: string }[] = [
  { kind: 'value', label: 'the value' },
  { kind: 'increase', label: 'its increase over a window' },
  { kind: 'seconds_until', label: 'seconds until it reaches a target' },
];

/**
 * The form of a new rule on any metric (`POST /api/alerts/rules`); the
 * server's message shows when it refuses. Its rule can be previewed on the
 * last 24 h of stored history before it is created.
 */
export function RuleForm({
  servers,
  metrics,
  serverName,
  onOpen,
  onCreate,
  onPreview,
}: {
  servers: readonly { id: string; name: string; tags: readonly string[] }[];
  metrics: MetricOption[] | null;
  serverName: (id: string) => string;
  onOpen: () => void;
  onCreate: (rule: AlertRule) => Promise<AlertRule>;
  onPreview: PreviewRule;
}) {
  const id = useId();
  const [input, setInput] = useState<RuleInput>(EMPTY_RULE_INPUT);
  const [errors, setErrors] = useState<Partial<Record<RuleField, string>>>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const preview = useRulePreview(onPreview, input);

  const set = <K extends keyof RuleInput>(key: K, value: RuleInput[K]) => setInput((i) => ({ ...i, [key]: value }));
  const metric = useMemo(() => metrics?.find((m) => m.metric === input.metric.trim()), [metrics, input.metric]);
  const tags = useMemo(() => [...new Set(servers.flatMap((s) => s.tags))].sort(), [servers]);
  const condition = useMemo(() => {
    const parsed = parseRuleInput(input);
    return parsed.rule ? conditionText(parsed.rule) : null;
  }, [input]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseRuleInput(input);
    if (parsed.rule === null) {
      setErrors(parsed.errors);
      setServerError(null);
      return;
    }
    setErrors({});
    setServerError(null);
    setSaving(true);
    try {
      await onCreate(parsed.rule);
      setInput(EMPTY_RULE_INPUT);
      preview.reset();
    } catch (e) {
      setServerError(errorText(e));
    } finally {
      setSaving(false);
    }
  };

  /** Previews the rule as saving would send it, after the same checks. */
  const runPreview = () => {
    const parsed = parseRuleInput(input);
    if (parsed.rule === null) {
      setErrors(parsed.errors);
      return;
    }
    setErrors({});
    void preview.run(parsed.rule);
  };

  const describedBy = (name: RuleField, hint?: boolean) =>
    errors[name] ? `${id}-${name}-error` : hint ? `${id}-${name}-hint` : undefined;
  const error = (name: RuleField) =>
    errors[name] ? (
      <span className="field-error" id={`${id}-${name}-error`}>
        {errors[name]}
      </span>
    ) : null;
  const hint = (name: RuleField, text: ReactNode) =>
    errors[name] ? null : (
      <span className="subtle field-hint" id={`${id}-${name}-hint`}>
        {text}
      </span>
    );
  const text = (name: TextField, label: string, props: { type?: string; hint?: ReactNode; list?: string; testid: string; placeholder?: string; step?: string }) => (
    <div className="stack-field">
      <label htmlFor={`${id}-${name}`}>{label}</label>
      <input
        id={`${id}-${name}`}
        type={props.type ?? 'text'}
        inputMode={props.type === 'number' ? 'decimal' : undefined}
        step={props.type === 'number' ? (props.step ?? 'any') : undefined}
        list={props.list}
        placeholder={props.placeholder}
        spellCheck={false}
        autoComplete="off"
        value={input[name]}
        onChange={(e) => setInput((i) => ({ ...i, [name]: e.target.value }))}
        aria-invalid={errors[name] ? true : undefined}
        aria-describedby={describedBy(name, props.hint !== undefined)}
        data-testid={props.testid}
      />
      {props.hint !== undefined && hint(name, props.hint)}
      {error(name)}
    </div>
  );

  return (
    <details className="rule-form" onToggle={(e) => (e.currentTarget.open ? onOpen() : undefined)}>
      <summary data-testid="rule-form-open">New rule</summary>
      <form onSubmit={submit} noValidate aria-label="New rule" data-testid="rule-form">
        <div className="form-grid">
          {text('name', 'Name', { testid: 'rule-form-name', placeholder: 'mail queue deep' })}
          {text('metric', 'Metric', {
            testid: 'rule-form-metric',
            list: `${id}-metrics`,
            placeholder: 'queue_depth',
            hint:
              metrics === null
                ? 'Loading the metrics your servers report…'
                : metric
                  ? `${metric.unit || 'no unit'}, reported by ${metric.servers} server${metric.servers === 1 ? '' : 's'}${
                      Object.keys(metric.labels).length > 0 ? `; labels: ${labelsHint(metric)}` : ''
                    }`
                  : `${metrics.length} metrics known; pick one or type any name.`,
          })}
          <datalist id={`${id}-metrics`}>
            {(metrics ?? []).map((m) => (
              <option key={m.metric} value={m.metric} />
            ))}
          </datalist>
          {text('matchers', 'Label matchers (optional)', {
            testid: 'rule-form-matchers',
            placeholder: 'queue="mail", mountpoint!="/boot"',
            hint: 'Empty: each series of the metric is its own alert.',
          })}
          <div className="stack-field">
            <label htmlFor={`${id}-fn`}>Compare</label>
            <select id={`${id}-fn`} value={input.fn} onChange={(e) => set('fn', e.target.value as FunctionKind)} data-testid="rule-form-function">
              {FUNCTIONS.map((f) => (
                <option key={f.kind} value={f.kind}>
                  {f.label}
                </option>
              ))}
            </select>
          </div>
          {input.fn !== 'value' &&
            text('windowSecs', 'Window (seconds)', { type: 'number', step: '1', testid: 'rule-form-window', hint: '60 to 604800 (7 days)' })}
          {input.fn === 'seconds_until' && text('target', 'Target value', { type: 'number', testid: 'rule-form-target' })}
          <div className="stack-field">
            <label htmlFor={`${id}-op`}>Fires when</label>
            <select id={`${id}-op`} value={input.op} onChange={(e) => set('op', e.target.value as Comparison)} data-testid="rule-form-op">
              {COMPARISONS.map((op) => (
                <option key={op} value={op}>
                  {op}
                </option>
              ))}
            </select>
          </div>
          {text('threshold', 'Threshold', { type: 'number', testid: 'rule-form-threshold' })}
          {text('resolveThreshold', 'Resolves at (optional)', {
            type: 'number',
            testid: 'rule-form-resolve',
            hint: 'Hysteresis: at or below the threshold of a > rule.',
          })}
          {text('forSecs', 'For (seconds)', { type: 'number', step: '1', testid: 'rule-form-for', hint: 'Pending until it has held this long.' })}
          <div className="stack-field">
            <label htmlFor={`${id}-severity`}>Severity</label>
            <select id={`${id}-severity`} value={input.severity} onChange={(e) => set('severity', e.target.value as Severity)} data-testid="rule-form-severity">
              {SEVERITIES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <div className="stack-field">
            <label htmlFor={`${id}-scope`}>Servers</label>
            <select
              id={`${id}-scope`}
              value={input.scope}
              onChange={(e) => set('scope', e.target.value as RuleScope['kind'])}
              aria-invalid={errors.scope ? true : undefined}
              aria-describedby={describedBy('scope')}
              data-testid="rule-form-scope"
            >
              <option value="all">all servers</option>
              <option value="servers">the servers chosen</option>
              <option value="tag">servers with a tag</option>
            </select>
            {error('scope')}
          </div>
          {input.scope === 'tag' && (
            <div className="stack-field">
              <label htmlFor={`${id}-tag`}>Tag</label>
              <input
                id={`${id}-tag`}
                list={`${id}-tags`}
                value={input.tag}
                onChange={(e) => set('tag', e.target.value)}
                data-testid="rule-form-tag"
              />
              <datalist id={`${id}-tags`}>
                {tags.map((t) => (
                  <option key={t} value={t} />
                ))}
              </datalist>
            </div>
          )}
        </div>
        {input.scope === 'servers' && (
          <fieldset className="server-choice">
            <legend>Servers</legend>
            {servers.length === 0 && <p className="subtle">No server is registered yet.</p>}
            {servers.map((s) => (
              <label key={s.id} className="check">
                <input
                  type="checkbox"
                  checked={input.servers.includes(s.id)}
                  onChange={(e) =>
                    set('servers', e.target.checked ? [...input.servers, s.id] : input.servers.filter((x) => x !== s.id))
                  }
                />
                {s.name}
              </label>
            ))}
          </fieldset>
        )}
        <label className="check">
          <input type="checkbox" checked={input.enabled} onChange={(e) => set('enabled', e.target.checked)} data-testid="rule-form-enabled" />
          Enabled
        </label>
        {condition && (
          <p className="subtle">
            Condition: <code className="wrap-anywhere">{condition}</code>
          </p>
        )}
        <div className="form-actions">
          <button type="submit" disabled={saving} data-testid="rule-form-save">
            Create rule
          </button>
          <button type="button" disabled={preview.state.loading} onClick={runPreview} data-testid="rule-preview">
            {preview.state.loading ? 'Previewing…' : PREVIEW_BUTTON_TEXT}
          </button>
        </div>
        {serverError && (
          <p className="field-error" role="alert" data-testid="rule-form-error">
            Not created: {serverError}
          </p>
        )}
        <RulePreviewResult state={preview.state} serverName={serverName} />
      </form>
    </details>
  );
}
