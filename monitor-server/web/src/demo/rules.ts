// The server's rule semantics that the demo imitates: the rules in force,
// the checks of a rule written, and the helpers of an evaluation (a server's
// override, label matchers, comparisons, scopes), as monitor-core's alert
// module does them. The real dashboard asks the server for all of this.

import { builtinRules, METRIC_NAME, numberText, thresholdRules } from '../lib/rules';
import type { AlertRule, Comparison, LabelMatcher, Labels, RuleScope, Thresholds } from '../lib/types';

/** The rules in force as the server computes them: thresholds, built-in, then stored (a stored rule replaces a built-in one of its id). */
export function effectiveRules(t: Thresholds, stored: readonly AlertRule[]): AlertRule[] {
  const rules = [...thresholdRules(t), ...builtinRules()].filter((r) => !stored.some((s) => s.id === r.id));
  return [...rules, ...stored];
}

/**
 * The server's checks of a rule (`AlertRule::validate`), with its
 * messages: the demo answers with them as the server would.
 */
export function validateRule(rule: AlertRule): string | null {
  if (rule.name.trim() === '') return 'name: give the rule a name';
  if (!METRIC_NAME.test(rule.metric)) return `metric: "${rule.metric}" is not a metric name (letters, digits and '_')`;
  if (!Number.isFinite(rule.threshold)) return 'threshold: must be a finite number';
  const fn = rule.function ?? { kind: 'value' };
  if (fn.kind !== 'value') {
    if (!(fn.window_secs >= 60 && fn.window_secs <= 7 * 86_400)) {
      return `function.window_secs: ${fn.window_secs} is outside 60..=604800 (one minute to seven days)`;
    }
    if (fn.kind === 'seconds_until' && !Number.isFinite(fn.target)) return 'function.target: must be a finite number';
  }
  const resolve = rule.resolve_threshold;
  if (resolve !== null && resolve !== undefined) {
    if (!Number.isFinite(resolve)) return 'resolve_threshold: must be a finite number';
    const upper = rule.op === '>' || rule.op === '>=';
    if (upper ? resolve > rule.threshold : resolve < rule.threshold) {
      return `resolve_threshold: ${numberText(resolve)} is on the firing side of ${rule.op} ${numberText(rule.threshold)}; for hysteresis it must be ${upper ? 'at or below' : 'at or above'} the threshold`;
    }
  }
  if (rule.scope.kind === 'servers' && rule.scope.value.length === 0) return 'scope: list at least one server';
  return null;
}

/** The rule as it applies to one server: its override (if any) applied, as `AlertRule::for_server` does. */
export function ruleForServer(rule: AlertRule, serverId: string): AlertRule {
  const o = rule.overrides?.[serverId];
  if (!o) return rule;
  const next: AlertRule = { ...rule };
  delete next.overrides;
  if (o.threshold !== undefined) {
    const t = o.threshold;
    const upper = rule.op === '>' || rule.op === '>=';
    next.threshold = t;
    const r = next.resolve_threshold;
    // A resolve threshold beyond the new firing one would flap: dropped.
    if (r !== null && r !== undefined && (upper ? r > t : r < t)) next.resolve_threshold = null;
  }
  if (o.resolve_threshold !== undefined) next.resolve_threshold = o.resolve_threshold;
  if (o.enabled !== undefined) next.enabled = o.enabled;
  return next;
}

/** True when `labels` satisfy every matcher (an empty value matches a missing label). */
export function matchesLabels(matchers: readonly LabelMatcher[], labels: Labels): boolean {
  return matchers.every((m) => {
    const actual = labels[m.name] ?? '';
    return (m.op ?? '=') === '=' ? actual === m.value : actual !== m.value;
  });
}

/** True when `value op threshold` holds. */
export function holds(op: Comparison, value: number, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

/** True when a server with this id and these tags is in the rule's scope. */
export function inScope(scope: RuleScope, serverId: string, tags: readonly string[]): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'servers':
      return scope.value.includes(serverId);
    case 'tag':
      return tags.includes(scope.value);
  }
}
