import { describe, expect, it } from 'vitest';

import {
  EMPTY_RULE_INPUT,
  alertValueText,
  builtinRules,
  conditionText,
  defaultRule,
  isCustomized,
  labelsHint,
  matchersText,
  metricOptions,
  overridesText,
  parseMatcherText,
  parseRuleEdit,
  parseRuleInput,
  planRuleEdit,
  ruleEditInput,
  ruleOrigin,
  scopeText,
  secondsText,
  thresholdRules,
  thresholdText,
} from './rules';
import type { AlertRule, LabelMatcher, SeriesInfo, Thresholds } from './types';

const thresholds: Thresholds = { cpu_total_percent: 85, memory_used_percent: 80, disk_used_percent: 90 };

const byId = (rules: AlertRule[], id: string): AlertRule => {
  const rule = rules.find((r) => r.id === id);
  if (!rule) throw new Error(`no rule ${id}`);
  return rule;
};

describe('conditionText', () => {
  it('writes the thresholds and the built-in rules as conditions', () => {
    const rules = [...thresholdRules(thresholds), ...builtinRules()];
    expect(rules.map((r) => [r.id, conditionText(r)])).toEqual([
      ['cpu_total_percent', 'cpu_usage_percent{cpu=""} (the whole machine) > 85'],
      ['memory_used_percent', 'memory_used_percent > 80'],
      ['disk_used_percent', 'filesystem_used_percent > 90'],
      ['host_offline', 'host_offline (missed reporting intervals) > 3'],
      [
        'filesystem_will_fill',
        'seconds until filesystem_used_percent reaches 100 (trend over 6 h) < 86400 s (1 d) for 300 s',
      ],
      ['container_unhealthy', 'container_healthy < 0.5 for 60 s'],
      ['container_restarting', 'increase of container_restarts_total over 15 min >= 3'],
      ['container_oom_killed', 'increase of container_oom_kills_total over 15 min >= 1'],
      ['container_stopped', 'container_running < 1 for 60 s'],
      ['probe_down', 'probe_success < 1 for 60 s'],
      ['probe_certificate_expiring', 'probe_tls_cert_expires_in_seconds < 1209600 s (14 d)'],
      ['temperature_critical', 'sensor_temperature_headroom_celsius < 5 for 60 s'],
      ['disk_failing', 'disk_smart_healthy < 1'],
    ]);
  });

  it('says what a matcher on an absent label picks', () => {
    const rule = (matchers: LabelMatcher[]): AlertRule => ({ ...defaultRule('r', 'r', 'x', '>', 1), matchers });
    expect(conditionText(rule([{ name: 'queue', op: '=', value: '' }]))).toBe('x{queue=""} (the series without queue) > 1');
    expect(conditionText(rule([{ name: 'queue', op: '!=', value: '' }]))).toBe('x{queue!=""} > 1');
  });

  it('adds matchers, the hold time and the resolve threshold', () => {
    const rule: AlertRule = {
      ...defaultRule('q', 'mail queue deep', 'queue_depth', '>', 100),
      matchers: [
        { name: 'queue', op: '=', value: 'mail' },
        { name: 'host', op: '!=', value: 'a "b"' },
      ],
      resolve_threshold: 80,
      for_secs: 60,
    };
    expect(conditionText(rule)).toBe('queue_depth{queue="mail",host!="a \\"b\\""} > 100 for 60 s, resolves at <= 80');
    expect(conditionText({ ...rule, op: '<', threshold: 5, resolve_threshold: 10, matchers: [], for_secs: 0 })).toBe(
      'queue_depth < 5, resolves at >= 10',
    );
    // A resolve threshold equal to the threshold says nothing.
    expect(conditionText({ ...rule, matchers: [], resolve_threshold: 100 })).toBe('queue_depth > 100 for 60 s');
    expect(conditionText({ ...rule, matchers: [], threshold: 0.1 + 0.2, resolve_threshold: null, for_secs: 0 })).toBe('queue_depth > 0.3');
  });

  it('writes durations in their round unit', () => {
    expect([59, 60, 90, 120, 900, 3600, 5400, 86_400, 172_800].map(secondsText)).toEqual([
      '59 s',
      '60 s',
      '90 s',
      '2 min',
      '15 min',
      '1 h',
      '90 min',
      '1 d',
      '2 d',
    ]);
    expect(matchersText([])).toBe('');
  });
});

describe('scope and overrides in words', () => {
  it('names every scope', () => {
    expect(scopeText({ kind: 'all' })).toBe('all servers');
    expect(scopeText({ kind: 'servers', value: ['web-1'] })).toBe('server web-1');
    expect(scopeText({ kind: 'servers', value: ['web-1', 'web-2'] })).toBe('servers web-1, web-2');
    expect(scopeText({ kind: 'tag', value: 'mail' })).toBe('servers tagged mail');
  });

  it('lists overrides by server', () => {
    const rule: AlertRule = {
      ...defaultRule('r', 'r', 'm', '>', 90),
      overrides: { 'scratch-1': { enabled: false }, 'db-01': { threshold: 97, resolve_threshold: 95 } },
    };
    expect(overridesText(rule)).toBe('db-01: threshold 97, resolves at 95; scratch-1: off');
    expect(overridesText(defaultRule('r', 'r', 'm', '>', 90))).toBe('');
  });
});

describe('where a rule comes from', () => {
  it('tells threshold, built-in and user rules apart by id', () => {
    expect(ruleOrigin('cpu_total_percent')).toBe('threshold');
    expect(ruleOrigin('container_stopped')).toBe('builtin');
    expect(ruleOrigin('mail-queue-deep')).toBe('user');
  });

  it('sees a stored rule that replaces a built-in one, and the thresholds as they are', () => {
    const builtins = builtinRules();
    const stopped = byId(builtins, 'container_stopped');
    expect(isCustomized(stopped, thresholds)).toBe(false);
    expect(isCustomized({ ...stopped, enabled: true }, thresholds)).toBe(true);
    // The same rule as the server writes it (function omitted, overrides absent) is not a change.
    expect(isCustomized({ ...byId(builtins, 'host_offline'), overrides: {} }, thresholds)).toBe(false);
    const cpu = byId(thresholdRules(thresholds), 'cpu_total_percent');
    expect(isCustomized(cpu, thresholds)).toBe(false);
    expect(isCustomized({ ...cpu, for_secs: 60 }, thresholds)).toBe(true);
    expect(isCustomized(cpu, { ...thresholds, cpu_total_percent: 70 })).toBe(true);
    expect(isCustomized(defaultRule('x', 'x', 'm', '>', 1), thresholds)).toBe(false);
  });
});

describe('planRuleEdit', () => {
  const cpu = byId(thresholdRules(thresholds), 'cpu_total_percent');

  it('saves a threshold rule whose threshold alone changes through the thresholds', () => {
    expect(planRuleEdit(cpu, { threshold: 70, for_secs: 0, severity: 'warning', resolve_threshold: null }, thresholds)).toEqual({
      kind: 'thresholds',
      thresholds: { ...thresholds, cpu_total_percent: 70 },
    });
  });

  it('replaces the rule for any other change, keeping what the form does not show', () => {
    const plan = planRuleEdit(cpu, { threshold: 70, for_secs: 120 }, thresholds);
    expect(plan.kind).toBe('put');
    if (plan.kind !== 'put') return;
    expect(plan.rule).toMatchObject({ id: 'cpu_total_percent', threshold: 70, for_secs: 120, matchers: [{ name: 'cpu', op: '=', value: '' }] });

    const fill = byId(builtinRules(), 'filesystem_will_fill');
    const put = planRuleEdit(fill, { threshold: 43_200 }, thresholds);
    expect(put).toEqual({ kind: 'put', rule: { ...fill, threshold: 43_200 } });
    expect(planRuleEdit(cpu, { enabled: false }, thresholds)).toMatchObject({ kind: 'put', rule: { enabled: false } });
    // Without the thresholds known, nothing is routed through them.
    expect(planRuleEdit(cpu, { threshold: 70 }, null).kind).toBe('put');
  });
});

describe('parseMatcherText', () => {
  it('reads quoted and bare values, = and !=, commas inside quotes', () => {
    expect(parseMatcherText(' queue="mail", mountpoint != "/boot" ,cpu=, name=web ')).toEqual({
      matchers: [
        { name: 'queue', op: '=', value: 'mail' },
        { name: 'mountpoint', op: '!=', value: '/boot' },
        { name: 'cpu', op: '=', value: '' },
        { name: 'name', op: '=', value: 'web' },
      ],
      error: null,
    });
    expect(parseMatcherText('path="/a,b", q="say \\"hi\\""').matchers).toEqual([
      { name: 'path', op: '=', value: '/a,b' },
      { name: 'q', op: '=', value: 'say "hi"' },
    ]);
    expect(parseMatcherText('')).toEqual({ matchers: [], error: null });
  });

  it('refuses what is not a matcher', () => {
    expect(parseMatcherText('queue').error).toMatch(/name="value"/);
    expect(parseMatcherText('9q="x"').error).toMatch(/not a label name/);
    expect(parseMatcherText('q="x').error).toMatch(/closing quote/);
    expect(parseMatcherText('a="x" b="y"').error).toMatch(/commas/);
  });
});

describe('parseRuleInput', () => {
  const input = {
    ...EMPTY_RULE_INPUT,
    name: ' mail queue deep ',
    metric: 'queue_depth',
    matchers: 'queue="mail"',
    threshold: '100',
    resolveThreshold: '80',
    forSecs: '60',
    severity: 'critical' as const,
    scope: 'tag' as const,
    tag: 'mail',
  };

  it('builds the body of POST /api/alerts/rules', () => {
    expect(parseRuleInput(input)).toEqual({
      rule: {
        id: '',
        name: 'mail queue deep',
        metric: 'queue_depth',
        matchers: [{ name: 'queue', op: '=', value: 'mail' }],
        op: '>',
        threshold: 100,
        resolve_threshold: 80,
        for_secs: 60,
        severity: 'critical',
        scope: { kind: 'tag', value: 'mail' },
        enabled: true,
      },
      errors: null,
    });
  });

  it('adds the function and the servers', () => {
    const rule = parseRuleInput({
      ...input,
      fn: 'seconds_until',
      windowSecs: '21600',
      target: '100',
      op: '<',
      threshold: '86400',
      resolveThreshold: '',
      scope: 'servers',
      servers: ['web-1', 'web-2'],
    }).rule;
    expect(rule?.function).toEqual({ kind: 'seconds_until', target: 100, window_secs: 21_600 });
    expect(rule?.scope).toEqual({ kind: 'servers', value: ['web-1', 'web-2'] });
    expect(rule?.resolve_threshold).toBeNull();
    expect(parseRuleInput({ ...input, fn: 'increase', windowSecs: '900' }).rule?.function).toEqual({ kind: 'increase', window_secs: 900 });
    expect(parseRuleInput({ ...input, forSecs: '' }).rule?.for_secs).toBe(0);
  });

  it('names each field it can tell is wrong', () => {
    const result = parseRuleInput({
      ...EMPTY_RULE_INPUT,
      metric: 'queue depth',
      matchers: 'queue',
      threshold: 'x',
      resolveThreshold: 'y',
      forSecs: '1.5',
      fn: 'seconds_until',
      windowSecs: '',
      target: '',
      scope: 'servers',
    });
    expect(Object.keys(result.errors ?? {}).sort()).toEqual([
      'forSecs',
      'matchers',
      'metric',
      'name',
      'resolveThreshold',
      'scope',
      'target',
      'threshold',
      'windowSecs',
    ]);
    expect(parseRuleInput({ ...input, scope: 'tag', tag: ' ' }).errors).toEqual({ scope: 'Enter a tag.' });
  });
});

describe('parseRuleEdit', () => {
  it('reads the edit form of a rule', () => {
    const rule = { ...defaultRule('r', 'r', 'm', '>', 90), resolve_threshold: 85, for_secs: 60 };
    const input = ruleEditInput(rule);
    expect(input).toEqual({ threshold: '90', resolveThreshold: '85', forSecs: '60', severity: 'warning' });
    expect(parseRuleEdit({ ...input, threshold: '95', resolveThreshold: '' })).toEqual({
      changes: { threshold: 95, resolve_threshold: null, for_secs: 60, severity: 'warning' },
      errors: null,
    });
    expect(parseRuleEdit({ ...input, threshold: '', forSecs: '-1' }).errors).toEqual({
      threshold: 'Enter a number.',
      forSecs: 'Enter whole seconds (0 fires at once).',
    });
  });
});

describe('values in words', () => {
  it('formats a value in the unit of what the rule compares', () => {
    const rules = [...thresholdRules(thresholds), ...builtinRules()];
    expect(alertValueText(93.34, byId(rules, 'memory_used_percent'))).toBe('93.3%');
    expect(alertValueText(4.2, byId(rules, 'host_offline'))).toBe('4 missed intervals');
    expect(alertValueText(1, byId(rules, 'host_offline'))).toBe('1 missed interval');
    expect(alertValueText(1701.4, byId(rules, 'host_offline'))).toBe('1701 missed intervals');
    expect(alertValueText(36_000, byId(rules, 'filesystem_will_fill'))).toBe('full in 10 h');
    expect(alertValueText(null, byId(rules, 'filesystem_will_fill'))).toBe('not heading there');
    expect(alertValueText(3, byId(rules, 'container_restarting'))).toBe('+3');
    expect(alertValueText(0, byId(rules, 'container_unhealthy'))).toBe('0');
    expect(alertValueText(1234, { metric: 'queue_depth' })).toBe('1.23k');
    expect(alertValueText(null, { metric: 'queue_depth' })).toBe('—');
    expect(thresholdText(86_400, byId(rules, 'filesystem_will_fill'))).toBe('1 d');
    expect(thresholdText(90, byId(rules, 'disk_used_percent'))).toBe('90.0%');
    expect(thresholdText(3, byId(rules, 'host_offline'))).toBe('3');
  });
});

describe('metricOptions', () => {
  const series = (metric: string, labels: Record<string, string>, unit = ''): SeriesInfo => ({
    metric,
    labels,
    kind: 'gauge',
    unit,
    last_value: 1,
    last_seen: null,
  });

  it('lists every metric the servers report, plugin metrics included, with their labels', () => {
    const options = metricOptions([
      [
        series('filesystem_used_percent', { mountpoint: '/' }, 'percent'),
        series('filesystem_used_percent', { mountpoint: '/boot' }, 'percent'),
        series('queue_depth', { queue: 'mail' }, 'count'),
      ],
      [series('filesystem_used_percent', { mountpoint: '/' }, 'percent'), series('cpu_usage_percent', {}, 'percent')],
    ]);
    expect(options.map((o) => [o.metric, o.servers])).toEqual([
      ['cpu_usage_percent', 1],
      ['filesystem_used_percent', 2],
      ['queue_depth', 1],
    ]);
    expect(options[1]?.labels).toEqual({ mountpoint: ['/', '/boot'] });
    const fs = options[1];
    expect(fs && labelsHint(fs)).toBe('mountpoint (/, /boot)');
    expect(
      labelsHint({ metric: 'm', unit: '', servers: 1, labels: { name: ['a', 'b', 'c'], cpu: [''] } }, 2),
    ).toBe('name (a, b, …); cpu ("")');
  });
});
