import { describe, expect, it } from 'vitest';

import { builtinRules, defaultRule } from '../lib/rules';
import type { AlertRule, Thresholds } from '../lib/types';
import { effectiveRules, holds, inScope, matchesLabels, ruleForServer, validateRule } from './rules';

const thresholds: Thresholds = { cpu_total_percent: 85, memory_used_percent: 80, disk_used_percent: 90 };

const byId = (rules: AlertRule[], id: string): AlertRule => {
  const rule = rules.find((r) => r.id === id);
  if (!rule) throw new Error(`no rule ${id}`);
  return rule;
};

describe('the rules in force', () => {
  it('puts a stored rule in the place of the built-in one of its id', () => {
    const stored = [{ ...byId(builtinRules(), 'container_stopped'), enabled: true }, defaultRule('mine', 'mine', 'queue_depth', '>', 1)];
    const rules = effectiveRules(thresholds, stored);
    expect(rules.filter((r) => r.id === 'container_stopped')).toHaveLength(1);
    expect(byId(rules, 'container_stopped').enabled).toBe(true);
    expect(rules.at(-1)?.id).toBe('mine');
    expect(rules).toHaveLength(3 + builtinRules().length + 1);
  });
});

describe('validateRule', () => {
  const rule = defaultRule('', 'r', 'queue_depth', '>', 100);

  it('accepts a good rule and gives the server messages otherwise', () => {
    expect(validateRule(rule)).toBeNull();
    expect(validateRule({ ...rule, name: ' ' })).toBe('name: give the rule a name');
    expect(validateRule({ ...rule, metric: 'a-b' })).toMatch(/^metric: "a-b" is not a metric name/);
    expect(validateRule({ ...rule, resolve_threshold: 120 })).toBe(
      'resolve_threshold: 120 is on the firing side of > 100; for hysteresis it must be at or below the threshold',
    );
    expect(validateRule({ ...rule, op: '<', resolve_threshold: 90 })).toMatch(/at or above/);
    expect(validateRule({ ...rule, function: { kind: 'increase', window_secs: 30 } })).toMatch(/^function\.window_secs: 30 is outside/);
    expect(validateRule({ ...rule, scope: { kind: 'servers', value: [] } })).toBe('scope: list at least one server');
    for (const builtin of effectiveRules(thresholds, [])) expect(validateRule(builtin)).toBeNull();
  });
});

describe('evaluation helpers', () => {
  it('applies a server override as the server does', () => {
    const rule: AlertRule = {
      ...defaultRule('r', 'r', 'm', '>', 90),
      resolve_threshold: 85,
      overrides: { 'db-01': { threshold: 80 }, 'web-1': { threshold: 97 }, off: { enabled: false } },
    };
    // A resolve threshold beyond the new firing one is dropped; one still below stays.
    expect(ruleForServer(rule, 'db-01')).toMatchObject({ threshold: 80, resolve_threshold: null });
    expect(ruleForServer(rule, 'web-1')).toMatchObject({ threshold: 97, resolve_threshold: 85 });
    expect(ruleForServer(rule, 'off').enabled).toBe(false);
    expect(ruleForServer(rule, 'other')).toBe(rule);
  });

  it('matches labels, comparisons and scopes', () => {
    expect(matchesLabels([{ name: 'cpu', op: '=', value: '' }], {})).toBe(true);
    expect(matchesLabels([{ name: 'cpu', value: '' }], { cpu: '0' })).toBe(false);
    expect(matchesLabels([{ name: 'mountpoint', op: '!=', value: '/boot' }], { mountpoint: '/' })).toBe(true);
    expect([holds('>', 2, 1), holds('>', 1, 1), holds('>=', 1, 1), holds('<', 0.5, 1), holds('<=', 1, 1)]).toEqual([true, false, true, true, true]);
    expect(inScope({ kind: 'tag', value: 'web' }, 'a', ['prod', 'web'])).toBe(true);
    expect(inScope({ kind: 'servers', value: ['b'] }, 'a', [])).toBe(false);
  });
});
