import { describe, expect, it, vi } from 'vitest';

import { TOKEN_KEY, extractToken, initToken, isDemo, loadToken, saveToken, type TokenStorage } from './token';

function memoryStorage(initial: Record<string, string> = {}): TokenStorage & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

function fakeHistory() {
  return { state: { kept: true }, replaceState: vi.fn() };
}

describe('extractToken', () => {
  it('splits the token off and keeps the rest of the address', () => {
    expect(extractToken('https://mon.example/?token=abc&demo=1#/server/srv-01')).toEqual({
      token: 'abc',
      cleanUrl: '/?demo=1#/server/srv-01',
    });
    expect(extractToken('https://mon.example/dash/?token=a%2Bb%3D')).toEqual({ token: 'a+b=', cleanUrl: '/dash/' });
  });

  it('leaves an address without token alone, and cleans an empty one', () => {
    expect(extractToken('https://mon.example/#/alerts')).toEqual({ token: null, cleanUrl: null });
    expect(extractToken('https://mon.example/?token=')).toEqual({ token: null, cleanUrl: '/' });
  });
});

describe('initToken', () => {
  it('stores the token of the address and removes it from the address bar', () => {
    const storage = memoryStorage();
    const history = fakeHistory();
    const token = initToken({ href: 'https://mon.example/?token=s3cret#/alerts' }, storage, history);
    expect(token).toBe('s3cret');
    expect(storage.data.get(TOKEN_KEY)).toBe('s3cret');
    expect(history.replaceState).toHaveBeenCalledWith({ kept: true }, '', '/#/alerts');
  });

  it('falls back to the stored token without touching the address', () => {
    const storage = memoryStorage({ [TOKEN_KEY]: 'earlier' });
    const history = fakeHistory();
    expect(initToken({ href: 'https://mon.example/' }, storage, history)).toBe('earlier');
    expect(history.replaceState).not.toHaveBeenCalled();
  });

  it('prefers the address over the stored token', () => {
    const storage = memoryStorage({ [TOKEN_KEY]: 'old' });
    expect(initToken({ href: 'https://mon.example/?token=new' }, storage, fakeHistory())).toBe('new');
    expect(loadToken(storage)).toBe('new');
  });
});

describe('token storage', () => {
  it('saves, forgets, and survives a storage that throws', () => {
    const storage = memoryStorage();
    saveToken(storage, 'x');
    expect(loadToken(storage)).toBe('x');
    saveToken(storage, null);
    expect(loadToken(storage)).toBeNull();
    const broken: TokenStorage = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('denied');
      },
      removeItem: () => {
        throw new Error('denied');
      },
    };
    expect(loadToken(broken)).toBeNull();
    expect(() => saveToken(broken, 'x')).not.toThrow();
  });
});

describe('isDemo', () => {
  it('reads ?demo=1 as the original did', () => {
    expect(isDemo('?demo=1')).toBe(true);
    expect(isDemo('?token=x&demo=true')).toBe(true);
    expect(isDemo('?demo')).toBe(true);
    expect(isDemo('?demo=0')).toBe(false);
    expect(isDemo('?demo=false')).toBe(false);
    expect(isDemo('')).toBe(false);
  });
});
