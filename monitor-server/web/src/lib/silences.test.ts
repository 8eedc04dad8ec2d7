import { describe, expect, it } from 'vitest';

import { SILENCE_PRESETS, activeSilences, buildSilence, presetUntil, quickSilence, silenceTarget, type SilenceInput } from './silences';
import { toLocalInput } from './timeRange';
import type { Silence } from './types';

const NOW = Date.parse('2026-11-25T12:00:00.000Z');
const input: SilenceInput = { ruleId: 'host_offline', serverId: 'web-1', duration: '4h', customUntil: '', comment: '  maintenance ' };

describe('presets', () => {
  it('end 1 h, 4 h and 1 d from now', () => {
    expect(SILENCE_PRESETS.map((p) => p.label)).toEqual(['1 h', '4 h', '1 d']);
    expect(new Date(presetUntil('1h', NOW)).toISOString()).toBe('2026-11-25T13:00:00.000Z');
    expect(new Date(presetUntil('4h', NOW)).toISOString()).toBe('2026-11-25T16:00:00.000Z');
    expect(new Date(presetUntil('1d', NOW)).toISOString()).toBe('2026-11-26T12:00:00.000Z');
  });
});

describe('buildSilence', () => {
  it('builds the body of POST /api/alerts/silences from a preset', () => {
    expect(buildSilence(input, NOW)).toEqual({
      silence: { rule_id: 'host_offline', server_id: 'web-1', until: '2026-11-25T16:00:00.000Z', comment: 'maintenance' },
      errors: null,
    });
    // A rule alone, or a server alone, without comment.
    expect(buildSilence({ ...input, serverId: '', comment: '' }, NOW).silence).toEqual({ rule_id: 'host_offline', until: '2026-11-25T16:00:00.000Z' });
    expect(buildSilence({ ...input, ruleId: '', duration: '1d' }, NOW).silence).toMatchObject({ server_id: 'web-1', until: '2026-11-26T12:00:00.000Z' });
  });

  it('reads a custom end in local time', () => {
    const local = toLocalInput(NOW / 1000 + 3 * 3600);
    expect(buildSilence({ ...input, duration: 'custom', customUntil: local }, NOW).silence?.until).toBe('2026-11-25T15:00:00.000Z');
  });

  it('refuses a silence of everything, and an end that is missing or past', () => {
    expect(buildSilence({ ...input, ruleId: '', serverId: '' }, NOW).errors).toHaveProperty('target');
    expect(buildSilence({ ...input, duration: 'custom', customUntil: '' }, NOW).errors).toEqual({ customUntil: 'Enter a date and a time.' });
    expect(buildSilence({ ...input, duration: 'custom', customUntil: toLocalInput(NOW / 1000 - 60) }, NOW).errors).toEqual({
      customUntil: 'Enter a time in the future.',
    });
  });
});

describe('quickSilence', () => {
  it('silences an alert’s rule on its server for an hour', () => {
    expect(quickSilence({ rule_id: 'container_unhealthy', server_id: 'web-2' }, NOW)).toEqual({
      rule_id: 'container_unhealthy',
      server_id: 'web-2',
      until: '2026-11-25T13:00:00.000Z',
    });
  });
});

describe('the list', () => {
  const silences: Silence[] = [
    { id: 'b', server_id: 'web-1', until: '2026-11-25T18:00:00Z', comment: '' },
    { id: 'over', server_id: 'web-1', until: '2026-11-25T11:59:59Z', comment: '' },
    { id: 'a', rule_id: 'host_offline', until: '2026-11-25T13:00:00Z', comment: '' },
    { id: 'bad', rule_id: 'x', until: 'soon', comment: '' },
  ];

  it('keeps the silences not over, ending soonest first', () => {
    expect(activeSilences(silences, NOW).map((s) => s.id)).toEqual(['a', 'b']);
  });

  it('says what a silence covers', () => {
    const rule = (id: string) => (id === 'host_offline' ? 'host offline' : id);
    const server = (id: string) => (id === 'web-1' ? 'Web 1' : id);
    expect(silenceTarget({ rule_id: 'host_offline', server_id: 'web-1' }, rule, server)).toBe('host offline on Web 1');
    expect(silenceTarget({ server_id: 'web-1' }, rule, server)).toBe('every rule on Web 1');
    expect(silenceTarget({ rule_id: 'host_offline' }, rule, server)).toBe('host offline on every server');
  });
});
