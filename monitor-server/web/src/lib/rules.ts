// Alert rules as the server serves them (`GET /api/alerts/rules`): their
// conditions in words, where each comes from (the thresholds form, built in,
// or a user's), the edits the page makes, the create form, and the metric
// names a rule can watch. The rules the server ships come from
// serverRules.json, which monitor-server/tests/web_rules.rs keeps equal to
// monitor-core's `builtin_rules` and `Thresholds::to_rules`.

import { formatDuration, formatNumber, formatPercent, MISSING } from './format';
import shipped from './serverRules.json';
import type {
  AlertRule,
  Comparison,
  LabelMatcher,
  Labels,
  RuleFunction,
  RuleScope,
  SeriesInfo,
  Severity,
  Thresholds,
} from './types';

export const COMPARISONS: readonly Comparison[] = ['>', '>=', '<', '<='];
export const SEVERITIES: readonly Severity[] = ['info', 'warning', 'critical'];

/** The metric of the built-in host-offline rule: missed reporting intervals. */
export const OFFLINE_METRIC = 'host_offline';

/** A rule with the server's defaults: every series, every server, fires at once, warning. */
export function defaultRule(id: string, name: string, metric: string, op: Comparison, threshold: number): AlertRule {
  return {
    id,
    name,
    metric,
    matchers: [],
    op,
    threshold,
    resolve_threshold: null,
    for_secs: 0,
    severity: 'warning',
    scope: { kind: 'all' },
    enabled: true,
  };
}

/** A deep copy of rules as the server writes them. */
function copy(rules: readonly unknown[]): AlertRule[] {
  return structuredClone(rules) as AlertRule[];
}

/** The rule ids of the three thresholds, with the metric each watches. */
export const THRESHOLD_RULES: readonly { id: keyof Thresholds; metric: string }[] = shipped.thresholds.map((r) => ({
  id: r.id as keyof Thresholds,
  metric: r.metric,
}));

/** The three thresholds as the server turns them into rules. */
export function thresholdRules(t: Thresholds): AlertRule[] {
  return copy(shipped.thresholds).map((rule) => ({ ...rule, threshold: t[rule.id as keyof Thresholds] }));
}

/** The built-in rules beyond the thresholds, as the server ships them. */
export function builtinRules(): AlertRule[] {
  return copy(shipped.builtin);
}

const BUILTIN_IDS = new Set(builtinRules().map((r) => r.id));
const THRESHOLD_IDS = new Set<string>(THRESHOLD_RULES.map((r) => r.id));

export type RuleOrigin = 'threshold' | 'builtin' | 'user';

/** Where a rule comes from, by its id. */
export function ruleOrigin(id: string): RuleOrigin {
  if (THRESHOLD_IDS.has(id)) return 'threshold';
  if (BUILTIN_IDS.has(id)) return 'builtin';
  return 'user';
}

/** A rule as JSON the way the server writes it, for comparisons: absent defaults filled in. */
function normalized(rule: AlertRule): string {
  const fn = rule.function ?? { kind: 'value' };
  return JSON.stringify({
    id: rule.id,
    name: rule.name,
    metric: rule.metric,
    matchers: rule.matchers.map((m) => ({ name: m.name, op: m.op ?? '=', value: m.value })),
    function: fn.kind === 'value' ? null : fn,
    op: rule.op,
    threshold: rule.threshold,
    resolve_threshold: rule.resolve_threshold ?? null,
    for_secs: rule.for_secs,
    severity: rule.severity,
    scope: rule.scope,
    enabled: rule.enabled,
    overrides: rule.overrides && Object.keys(rule.overrides).length > 0 ? rule.overrides : null,
  });
}

/**
 * True when a threshold or built-in rule is a stored replacement that
 * differs from what the server would use without it (so that `DELETE`
 * brings the original back). Always false for user rules.
 */
export function isCustomized(rule: AlertRule, thresholds: Thresholds | null): boolean {
  const origin = ruleOrigin(rule.id);
  if (origin === 'user') return false;
  const original =
    origin === 'builtin'
      ? builtinRules().find((r) => r.id === rule.id)
      : thresholds
        ? thresholdRules(thresholds).find((r) => r.id === rule.id)
        : undefined;
  return original !== undefined && normalized(original) !== normalized(rule);
}

// ---- words ----

/** A number as rules write it: no trailing zeros, no exponent for usual sizes. */
export function numberText(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

/** A duration in seconds, in words when it is round: `60 s`, `15 min`, `6 h`, `1 d`. */
export function secondsText(secs: number): string {
  if (secs > 0 && secs % 86_400 === 0) return `${secs / 86_400} d`;
  if (secs > 0 && secs % 3600 === 0) return `${secs / 3600} h`;
  if (secs >= 120 && secs % 60 === 0) return `${secs / 60} min`;
  return `${numberText(secs)} s`;
}

/** Label matchers as the history API reads them: `{cpu="",queue!="mail"}`, or `` when there are none. */
export function matchersText(matchers: readonly LabelMatcher[]): string {
  if (matchers.length === 0) return '';
  return `{${matchers.map((m) => `${m.name}${m.op ?? '='}${JSON.stringify(m.value)}`).join(',')}}`;
}

/** Words for matchers that pick the series without a label (`cpu=""`: the machine-wide CPU sample). */
function absentText(matchers: readonly LabelMatcher[]): string {
  const absent = matchers.filter((m) => (m.op ?? '=') === '=' && m.value === '').map((m) => m.name);
  if (absent.length === 0) return '';
  if (absent.length === 1 && absent[0] === 'cpu') return ' (the whole machine)';
  return ` (the series without ${absent.join(', ')})`;
}

/** What a rule compares with its threshold, in words: `container_restarts_total increase over 15 min`. */
export function subjectText(rule: Pick<AlertRule, 'metric' | 'matchers' | 'function'>): string {
  const series = `${rule.metric}${matchersText(rule.matchers)}${absentText(rule.matchers)}`;
  const fn: RuleFunction = rule.function ?? { kind: 'value' };
  switch (fn.kind) {
    case 'value':
      return rule.metric === OFFLINE_METRIC ? `${series} (missed reporting intervals)` : series;
    case 'increase':
      return `increase of ${series} over ${secondsText(fn.window_secs)}`;
    case 'seconds_until':
      return `seconds until ${series} reaches ${numberText(fn.target)} (trend over ${secondsText(fn.window_secs)})`;
  }
}

/**
 * A rule's condition as text: `filesystem_used_percent > 90 for 60 s`,
 * `queue_depth{queue="mail"} > 100 for 1 min, resolves at <= 80`.
 */
export function conditionText(rule: AlertRule): string {
  let text = `${subjectText(rule)} ${rule.op} ${numberText(rule.threshold)}`;
  const kind = rule.function?.kind ?? 'value';
  if (kind === 'seconds_until') text += ` s (${formatDuration(rule.threshold)})`;
  // A threshold on a value in seconds: a minute and more reads better in days and hours.
  else if (kind === 'value' && unitOf(rule.metric) === 'seconds' && rule.threshold >= 60) {
    text += ` s (${formatDuration(rule.threshold)})`;
  }
  if (rule.for_secs > 0) text += ` for ${numberText(rule.for_secs)} s`;
  if (rule.resolve_threshold !== null && rule.resolve_threshold !== undefined && rule.resolve_threshold !== rule.threshold) {
    const back = rule.op === '>' || rule.op === '>=' ? '<=' : '>=';
    text += `, resolves at ${back} ${numberText(rule.resolve_threshold)}`;
  }
  return text;
}

/** Which servers, in words. */
export function scopeText(scope: RuleScope): string {
  switch (scope.kind) {
    case 'all':
      return 'all servers';
    case 'servers':
      return scope.value.length === 1 ? `server ${scope.value[0]}` : `servers ${scope.value.join(', ')}`;
    case 'tag':
      return `servers tagged ${scope.value}`;
  }
}

/** The per-server overrides in words: `db-01: threshold 97; scratch-1: off`, or `` when none. */
export function overridesText(rule: AlertRule): string {
  const entries = Object.entries(rule.overrides ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return entries
    .map(([server, o]) => {
      const parts: string[] = [];
      if (o.enabled === false) parts.push('off');
      if (o.enabled === true) parts.push('on');
      if (o.threshold !== undefined) parts.push(`threshold ${numberText(o.threshold)}`);
      if (o.resolve_threshold !== undefined) parts.push(`resolves at ${numberText(o.resolve_threshold)}`);
      return `${server}: ${parts.join(', ') || 'no change'}`;
    })
    .join('; ');
}

/** The unit a metric's values are in, from its name (the server's naming conventions). */
function unitOf(metric: string): 'percent' | 'bytes' | 'seconds' | 'other' {
  if (metric.endsWith('_percent')) return 'percent';
  if (metric.endsWith('_bytes') || metric.endsWith('_bytes_total')) return 'bytes';
  if (metric.endsWith('_seconds') || metric.endsWith('_seconds_total')) return 'seconds';
  return 'other';
}

/** An alert's value as people read it, given the rule that fired (when known) or its metric. */
export function alertValueText(
  value: number | null | undefined,
  rule: Pick<AlertRule, 'metric' | 'function'>,
): string {
  const fn = rule.function ?? { kind: 'value' };
  if (fn.kind === 'seconds_until') {
    return value === null || value === undefined ? 'not heading there' : `full in ${formatDuration(value)}`;
  }
  if (value === null || value === undefined || !Number.isFinite(value)) return MISSING;
  if (fn.kind === 'increase') return `+${formatNumber(value)}`;
  if (rule.metric === OFFLINE_METRIC) {
    const n = Math.floor(value);
    return n === 1 ? '1 missed interval' : `${n < 1e6 ? String(n) : formatNumber(n)} missed intervals`;
  }
  switch (unitOf(rule.metric)) {
    case 'percent':
      return formatPercent(value);
    case 'seconds':
      return formatDuration(value);
    default:
      return formatNumber(value);
  }
}

/** A rule's threshold in the unit of what it compares: `90.0%`, `1 d`, `3` (missed intervals). */
export function thresholdText(
  threshold: number,
  rule: Pick<AlertRule, 'metric' | 'function'>,
): string {
  const fn = rule.function ?? { kind: 'value' };
  if (fn.kind === 'seconds_until') return formatDuration(threshold);
  if (fn.kind === 'increase' || rule.metric === OFFLINE_METRIC) return formatNumber(threshold);
  return unitOf(rule.metric) === 'percent' ? formatPercent(threshold) : formatNumber(threshold);
}

// ---- edits ----

export interface RuleChanges {
  enabled?: boolean;
  threshold?: number;
  resolve_threshold?: number | null;
  for_secs?: number;
  severity?: Severity;
}

/** What saving changes to a rule sends: the thresholds form's body, or the whole rule to `PUT`. */
export type RuleEditPlan = { kind: 'thresholds'; thresholds: Thresholds } | { kind: 'put'; rule: AlertRule };

/**
 * How to save `changes` to `rule`. A threshold rule that follows the
 * thresholds form (not replaced by a stored rule) whose threshold alone
 * changes is saved through `POST /api/alerts`, so that the form and the
 * rule stay one; anything else replaces the rule with `PUT`.
 */
export function planRuleEdit(rule: AlertRule, changes: RuleChanges, thresholds: Thresholds | null): RuleEditPlan {
  const next: AlertRule = { ...rule, ...changes };
  if (changes.resolve_threshold === undefined) next.resolve_threshold = rule.resolve_threshold ?? null;
  const id = rule.id as keyof Thresholds;
  if (thresholds && ruleOrigin(rule.id) === 'threshold' && !isCustomized(rule, thresholds)) {
    const onlyThreshold = normalized({ ...next, threshold: rule.threshold }) === normalized(rule);
    if (onlyThreshold) return { kind: 'thresholds', thresholds: { ...thresholds, [id]: next.threshold } };
  }
  return { kind: 'put', rule: next };
}

// ---- the create form ----

export type FunctionKind = RuleFunction['kind'];

/** The create form's fields, as typed. */
export interface RuleInput {
  name: string;
  metric: string;
  /** `queue="mail", mountpoint!="/boot"` */
  matchers: string;
  fn: FunctionKind;
  windowSecs: string;
  target: string;
  op: Comparison;
  threshold: string;
  resolveThreshold: string;
  forSecs: string;
  severity: Severity;
  scope: RuleScope['kind'];
  /** The servers of a `servers` scope. */
  servers: string[];
  tag: string;
  enabled: boolean;
}

export const EMPTY_RULE_INPUT: RuleInput = {
  name: '',
  metric: '',
  matchers: '',
  fn: 'value',
  windowSecs: '900',
  target: '100',
  op: '>',
  threshold: '',
  resolveThreshold: '',
  forSecs: '60',
  severity: 'warning',
  scope: 'all',
  servers: [],
  tag: '',
  enabled: true,
};

export type RuleField = 'name' | 'metric' | 'matchers' | 'windowSecs' | 'target' | 'threshold' | 'resolveThreshold' | 'forSecs' | 'scope';

/** A metric or label name, as the server takes it. */
export const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Label matchers from text: `name="value"` or `name!="value"` (quotes
 * optional), separated by commas outside quotes. A quoted value may hold
 * commas and `\"`.
 */
export function parseMatcherText(text: string): { matchers: LabelMatcher[]; error: null } | { matchers: null; error: string } {
  const matchers: LabelMatcher[] = [];
  let i = 0;
  const s = text;
  const skipSpace = () => {
    while (i < s.length && /\s/.test(s.charAt(i))) i++;
  };
  skipSpace();
  while (i < s.length) {
    const nameStart = i;
    while (i < s.length && /[A-Za-z0-9_]/.test(s.charAt(i))) i++;
    const name = s.slice(nameStart, i);
    skipSpace();
    let op: '=' | '!=';
    if (s.startsWith('!=', i)) {
      op = '!=';
      i += 2;
    } else if (s.charAt(i) === '=') {
      op = '=';
      i += 1;
    } else {
      return { matchers: null, error: 'Write each matcher as name="value" or name!="value", separated by commas.' };
    }
    if (!METRIC_NAME.test(name)) return { matchers: null, error: `"${name}" is not a label name (letters, digits and _).` };
    skipSpace();
    let value = '';
    if (s.charAt(i) === '"') {
      i += 1;
      let closed = false;
      while (i < s.length) {
        const c = s.charAt(i);
        if (c === '\\' && i + 1 < s.length) {
          value += s.charAt(i + 1);
          i += 2;
        } else if (c === '"') {
          i += 1;
          closed = true;
          break;
        } else {
          value += c;
          i += 1;
        }
      }
      if (!closed) return { matchers: null, error: `The value of ${name} lacks its closing quote.` };
    } else {
      const start = i;
      while (i < s.length && s.charAt(i) !== ',') i++;
      value = s.slice(start, i).trim();
    }
    matchers.push({ name, op, value });
    skipSpace();
    if (i < s.length) {
      if (s.charAt(i) !== ',') return { matchers: null, error: 'Separate matchers with commas.' };
      i += 1;
      skipSpace();
    }
  }
  return { matchers, error: null };
}

function numberField(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

/**
 * Reads the create form: the rule to `POST`, or a message per field the
 * page can tell is wrong before asking (the server checks the rest and its
 * message is shown too).
 */
export function parseRuleInput(
  input: RuleInput,
): { rule: AlertRule; errors: null } | { rule: null; errors: Partial<Record<RuleField, string>> } {
  const errors: Partial<Record<RuleField, string>> = {};
  const name = input.name.trim();
  if (name === '') errors.name = 'Give the rule a name.';
  const metric = input.metric.trim();
  if (!METRIC_NAME.test(metric)) errors.metric = 'Enter a metric name (letters, digits and _).';
  const parsedMatchers = parseMatcherText(input.matchers);
  if (parsedMatchers.error !== null) errors.matchers = parsedMatchers.error;
  const threshold = numberField(input.threshold);
  if (threshold === null) errors.threshold = 'Enter a number.';
  let resolve: number | null = null;
  if (input.resolveThreshold.trim() !== '') {
    resolve = numberField(input.resolveThreshold);
    if (resolve === null) errors.resolveThreshold = 'Enter a number, or leave it empty.';
  }
  const forSecs = input.forSecs.trim() === '' ? 0 : numberField(input.forSecs);
  if (forSecs === null || forSecs < 0 || !Number.isInteger(forSecs)) errors.forSecs = 'Enter whole seconds (0 fires at once).';
  let fn: RuleFunction | undefined;
  if (input.fn !== 'value') {
    const window = numberField(input.windowSecs);
    if (window === null || window < 0 || !Number.isInteger(window)) errors.windowSecs = 'Enter whole seconds.';
    if (input.fn === 'increase') {
      fn = { kind: 'increase', window_secs: window ?? 0 };
    } else {
      const target = numberField(input.target);
      if (target === null) errors.target = 'Enter a number.';
      fn = { kind: 'seconds_until', target: target ?? 0, window_secs: window ?? 0 };
    }
  }
  let scope: RuleScope = { kind: 'all' };
  if (input.scope === 'servers') {
    if (input.servers.length === 0) errors.scope = 'Choose at least one server.';
    scope = { kind: 'servers', value: [...input.servers] };
  } else if (input.scope === 'tag') {
    const tag = input.tag.trim();
    if (tag === '') errors.scope = 'Enter a tag.';
    scope = { kind: 'tag', value: tag };
  }
  if (Object.keys(errors).length > 0) return { rule: null, errors };
  const rule: AlertRule = {
    id: '',
    name,
    metric,
    matchers: parsedMatchers.matchers ?? [],
    op: input.op,
    threshold: threshold ?? 0,
    resolve_threshold: resolve,
    for_secs: forSecs ?? 0,
    severity: input.severity,
    scope,
    enabled: input.enabled,
  };
  if (fn) rule.function = fn;
  return { rule, errors: null };
}

// ---- metrics to pick from ----

export interface MetricOption {
  metric: string;
  unit: string;
  /** Label name → the values seen, sorted. */
  labels: Record<string, string[]>;
  /** How many servers report it. */
  servers: number;
}

/** The metrics the given servers report (plugin metrics included), by name, with their labels' values. */
export function metricOptions(seriesByServer: readonly (readonly SeriesInfo[])[]): MetricOption[] {
  const byName = new Map<string, { unit: string; labels: Map<string, Set<string>>; servers: number }>();
  for (const list of seriesByServer) {
    const seen = new Set<string>();
    for (const s of list) {
      let entry = byName.get(s.metric);
      if (!entry) {
        entry = { unit: s.unit, labels: new Map(), servers: 0 };
        byName.set(s.metric, entry);
      }
      if (!seen.has(s.metric)) {
        seen.add(s.metric);
        entry.servers += 1;
      }
      for (const [name, value] of Object.entries(s.labels as Labels)) {
        let values = entry.labels.get(name);
        if (!values) {
          values = new Set();
          entry.labels.set(name, values);
        }
        values.add(value);
      }
    }
  }
  return [...byName.entries()]
    .map(([metric, e]) => ({
      metric,
      unit: e.unit,
      servers: e.servers,
      labels: Object.fromEntries(
        [...e.labels.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]),
      ),
    }))
    .sort((a, b) => a.metric.localeCompare(b.metric));
}

/** A metric's labels in a line: `mountpoint (/, /boot, …)`. */
export function labelsHint(option: MetricOption, maxValues = 4): string {
  return Object.entries(option.labels)
    .map(([name, values]) => {
      const shown = values.slice(0, maxValues).map((v) => (v === '' ? '""' : v));
      return `${name} (${shown.join(', ')}${values.length > maxValues ? ', …' : ''})`;
    })
    .join('; ');
}

// ---- the edit form of one rule ----

/** The edit form's fields, as typed. */
export interface RuleEditInput {
  threshold: string;
  /** `` for none (resolves where it fires). */
  resolveThreshold: string;
  forSecs: string;
  severity: Severity;
}

export function ruleEditInput(rule: AlertRule): RuleEditInput {
  return {
    threshold: numberText(rule.threshold),
    resolveThreshold: rule.resolve_threshold === null || rule.resolve_threshold === undefined ? '' : numberText(rule.resolve_threshold),
    forSecs: String(rule.for_secs),
    severity: rule.severity,
  };
}

export type RuleEditField = 'threshold' | 'resolveThreshold' | 'forSecs';

/** What the edit form changes. */
export interface RuleEdit {
  threshold: number;
  resolve_threshold: number | null;
  for_secs: number;
  severity: Severity;
}

/** Reads the edit form: the changes, or a message per wrong field (the server checks the rest). */
export function parseRuleEdit(
  input: RuleEditInput,
): { changes: RuleEdit; errors: null } | { changes: null; errors: Partial<Record<RuleEditField, string>> } {
  const errors: Partial<Record<RuleEditField, string>> = {};
  const threshold = numberField(input.threshold);
  if (threshold === null) errors.threshold = 'Enter a number.';
  let resolve: number | null = null;
  if (input.resolveThreshold.trim() !== '') {
    resolve = numberField(input.resolveThreshold);
    if (resolve === null) errors.resolveThreshold = 'Enter a number, or leave it empty.';
  }
  const forSecs = input.forSecs.trim() === '' ? 0 : numberField(input.forSecs);
  if (forSecs === null || forSecs < 0 || !Number.isInteger(forSecs)) errors.forSecs = 'Enter whole seconds (0 fires at once).';
  if (Object.keys(errors).length > 0) return { changes: null, errors };
  return {
    changes: { threshold: threshold ?? 0, resolve_threshold: resolve, for_secs: forSecs ?? 0, severity: input.severity },
    errors: null,
  };
}
