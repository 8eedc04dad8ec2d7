// What the caller's token may do (`GET /api/access`), and which controls the
// pages offer from it. The server has the last word: a control offered may
// still be refused (403 `insufficient_scope` when the token changed
// meanwhile), and the form then shows the server's message.

import { ApiError } from './api';
import type { Access, AccessRole } from './types';

/**
 * Everything allowed: demo mode, and what the page assumes when it cannot
 * ask (a server from before roles, without `/api/access`), as before roles.
 */
export const FULL_ACCESS: Access = { role: 'open', change_alerts: true, admin: true };

/** The alerts page's notice for a token that may not change it. */
export const READ_ONLY_NOTICE =
  'Read-only access: this token may read but not change alert settings (use the dashboard token).';

/** What the page knows of the caller's access. */
export interface AccessState {
  /** Null until the server answered (or the page assumed): the controls that change things wait for it. */
  access: Access | null;
  /** True when `access` was assumed after a failure that may pass (server down, wrong token): ask again once the server answers. */
  askAgain: boolean;
}

/** Nothing known yet. */
export const UNKNOWN_ACCESS: AccessState = { access: null, askAgain: false };

/**
 * The answer of `GET /api/access`, or null when it is not its shape. A
 * role this page does not know is kept: `change_alerts` is what counts.
 */
export function parseAccess(data: unknown): Access | null {
  if (typeof data !== 'object' || data === null) return null;
  const { role, change_alerts: changeAlerts, admin } = data as Record<string, unknown>;
  if (typeof role !== 'string' || typeof changeAlerts !== 'boolean') return null;
  return { role: role as AccessRole, change_alerts: changeAlerts, admin: admin === true };
}

/**
 * The access to act on, from `ask` (`GET /api/access`): the server's
 * answer; everything allowed, as before roles, for a server without the
 * endpoint (404) or an answer of another shape; everything allowed too
 * after any other failure (unreachable, 5xx, 401, 403: the server still
 * refuses what the token may not do), but to be asked again once the
 * server answers. An abort is rethrown.
 */
export async function learnAccess(ask: () => Promise<unknown>): Promise<AccessState> {
  try {
    return { access: parseAccess(await ask()) ?? FULL_ACCESS, askAgain: false };
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    const oldServer = error instanceof ApiError && error.status === 404;
    return { access: FULL_ACCESS, askAgain: !oldServer };
  }
}

/** True when the controls that change alert settings are offered: the access is known and allows it. */
export function canChangeAlerts(access: Access | null): boolean {
  return access !== null && access.change_alerts;
}

/** True when the access is known and allows no change (the page then says so, once). */
export function isReadOnly(access: Access | null): boolean {
  return access !== null && !access.change_alerts;
}
