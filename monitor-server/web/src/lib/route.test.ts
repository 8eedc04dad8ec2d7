import { describe, expect, it } from 'vitest';

import { parseRoute, routeHref } from './route';

describe('routes', () => {
  it('parses the hash', () => {
    expect(parseRoute('')).toEqual({ page: 'overview' });
    expect(parseRoute('#/')).toEqual({ page: 'overview' });
    expect(parseRoute('#/alerts')).toEqual({ page: 'alerts' });
    expect(parseRoute('#/server/srv-01')).toEqual({ page: 'server', serverId: 'srv-01' });
    expect(parseRoute('#/server/a%2Fb')).toEqual({ page: 'server', serverId: 'a/b' });
    expect(parseRoute('#/server/%E0%A4%A')).toEqual({ page: 'overview' });
    expect(parseRoute('#/nowhere')).toEqual({ page: 'overview' });
  });

  it('round-trips', () => {
    for (const route of [{ page: 'overview' }, { page: 'alerts' }, { page: 'server', serverId: 'web_1.example' }] as const) {
      expect(parseRoute(routeHref(route))).toEqual(route);
    }
  });
});
