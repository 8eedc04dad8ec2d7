// The dashboard token and the demo flag, from the address bar as the
// original dashboard took them: `?token=...` is kept in session storage and
// removed from the address bar (so it leaves no trace in history or in a
// shared link); `?demo=1` shows synthetic data.

/** The session storage key of the dashboard token. */
export const TOKEN_KEY = 'monitor.dashboard-token';

export type TokenStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/**
 * The tab's session storage, or a stand-in that keeps nothing when the
 * browser refuses storage (reading `sessionStorage` then throws).
 */
export function sessionStore(): TokenStorage {
  try {
    return window.sessionStorage;
  } catch {
    return { getItem: () => null, setItem: () => undefined, removeItem: () => undefined };
  }
}

/**
 * The `token` parameter of `href`, and the same address without it (path,
 * remaining query and hash), or `cleanUrl: null` when there was none.
 */
export function extractToken(href: string): { token: string | null; cleanUrl: string | null } {
  const url = new URL(href);
  if (!url.searchParams.has('token')) return { token: null, cleanUrl: null };
  const token = url.searchParams.get('token') ?? '';
  url.searchParams.delete('token');
  return { token: token === '' ? null : token, cleanUrl: `${url.pathname}${url.search}${url.hash}` };
}

/** The stored token, or null (also when storage is unavailable). */
export function loadToken(storage: TokenStorage): string | null {
  try {
    return storage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Stores the token, or forgets it for null. */
export function saveToken(storage: TokenStorage, token: string | null): void {
  try {
    if (token === null) storage.removeItem(TOKEN_KEY);
    else storage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage disabled: the token lives as long as the page.
  }
}

/**
 * Takes `?token=` from the address into storage and out of the address bar;
 * returns the token to use (the one from the address, else the stored one).
 */
export function initToken(
  location: Pick<Location, 'href'>,
  storage: TokenStorage,
  history: Pick<History, 'replaceState' | 'state'>,
): string | null {
  const { token, cleanUrl } = extractToken(location.href);
  if (cleanUrl !== null) {
    if (token !== null) saveToken(storage, token);
    history.replaceState(history.state, '', cleanUrl);
  }
  return token ?? loadToken(storage);
}

/** True when the query asks for demo data: `?demo=1` (or any value but `0` and `false`). */
export function isDemo(search: string): boolean {
  const params = new URLSearchParams(search);
  if (!params.has('demo')) return false;
  const value = (params.get('demo') ?? '').toLowerCase();
  return value !== '0' && value !== 'false';
}
