import { describe, expect, it } from 'vitest';

import { canChangeAlerts, FULL_ACCESS, isReadOnly, learnAccess, parseAccess, READ_ONLY_NOTICE } from './access';
import { ApiError } from './api';
import { HttpSource } from './httpSource';
import type { Access } from './types';

const READ: Access = { role: 'read', change_alerts: false, admin: false };
const DASHBOARD: Access = { role: 'dashboard', change_alerts: true, admin: false };
const ADMIN: Access = { role: 'admin', change_alerts: true, admin: true };
const OPEN: Access = { role: 'open', change_alerts: true, admin: true };

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

/** A fetch that answers every request with `respond()`, and the paths asked. */
function fetchAnswering(respond: () => Response) {
  const paths: string[] = [];
  const fetchMock = async (url: RequestInfo | URL) => {
    paths.push(String(url));
    return respond();
  };
  return { paths, fetch: fetchMock as unknown as typeof fetch };
}

describe('parseAccess', () => {
  it('reads the answer of GET /api/access', () => {
    expect(parseAccess({ role: 'read', change_alerts: false, admin: false })).toEqual(READ);
    expect(parseAccess({ role: 'admin', change_alerts: true, admin: true })).toEqual(ADMIN);
    // A role this page does not know yet: change_alerts is what counts.
    expect(parseAccess({ role: 'auditor', change_alerts: false })).toEqual({ role: 'auditor', change_alerts: false, admin: false });
  });

  it('refuses what is not its shape', () => {
    expect(parseAccess(null)).toBeNull();
    expect(parseAccess('read')).toBeNull();
    expect(parseAccess({ role: 'read' })).toBeNull();
    expect(parseAccess({ role: 'read', change_alerts: 'no' })).toBeNull();
    expect(parseAccess({ change_alerts: true })).toBeNull();
  });
});

describe('learnAccess', () => {
  it('takes the server’s answer', async () => {
    await expect(learnAccess(async () => READ)).resolves.toEqual({ access: READ, askAgain: false });
    await expect(learnAccess(async () => DASHBOARD)).resolves.toEqual({ access: DASHBOARD, askAgain: false });
  });

  it('allows writes, as before roles, on a server without the endpoint (404) or an answer of another shape', async () => {
    const old = await learnAccess(async () => {
      throw new ApiError(404, 'not_found', 'no such route');
    });
    expect(old).toEqual({ access: FULL_ACCESS, askAgain: false });
    expect(canChangeAlerts(old.access)).toBe(true);
    await expect(learnAccess(async () => ({ hello: 1 }))).resolves.toEqual({ access: FULL_ACCESS, askAgain: false });
  });

  it('allows writes after any other failure, to be asked again once the server answers', async () => {
    for (const error of [
      new ApiError(0, 'unreachable', 'The server cannot be reached.'),
      new ApiError(503, 'unavailable', 'database down'),
      new ApiError(401, 'unauthorized', 'Missing or invalid dashboard token.'),
      new ApiError(403, 'host_not_allowed', 'the Host header is not allowed'),
    ]) {
      await expect(
        learnAccess(async () => {
          throw error;
        }),
      ).resolves.toEqual({ access: FULL_ACCESS, askAgain: true });
    }
  });

  it('rethrows an abort', async () => {
    await expect(
      learnAccess(async () => {
        throw new DOMException('aborted', 'AbortError');
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('asks GET /api/access through the data source, and its failure shows no banner by itself', async () => {
    const read = fetchAnswering(() => json(READ));
    await expect(learnAccess(() => new HttpSource('read-token', read.fetch).access())).resolves.toEqual({ access: READ, askAgain: false });
    expect(read.paths).toEqual(['/api/access']);

    for (const status of [401, 404, 500]) {
      const failing = fetchAnswering(() => json({ error: 'x', message: 'y' }, status));
      const source = new HttpSource('tok', failing.fetch);
      await expect(learnAccess(() => source.access())).resolves.toMatchObject({ access: FULL_ACCESS });
      expect(source.connection.get().state).toBe('ok');
    }
  });
});

describe('what the alerts page offers', () => {
  it('offers the controls that change things only to a known access that allows it', () => {
    expect(canChangeAlerts(DASHBOARD)).toBe(true);
    expect(canChangeAlerts(ADMIN)).toBe(true);
    expect(canChangeAlerts(OPEN)).toBe(true);
    expect(canChangeAlerts(READ)).toBe(false);
    // Not known yet: nothing offered that might vanish a moment later.
    expect(canChangeAlerts(null)).toBe(false);
  });

  it('says read-only only when the access is known to allow no change', () => {
    expect(isReadOnly(READ)).toBe(true);
    expect(isReadOnly(DASHBOARD)).toBe(false);
    expect(isReadOnly(OPEN)).toBe(false);
    expect(isReadOnly(null)).toBe(false);
    expect(READ_ONLY_NOTICE).toBe('Read-only access: this token may read but not change alert settings (use the dashboard token).');
  });
});
