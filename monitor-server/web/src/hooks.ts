// React glue over the lib/ modules: routing, time, live events, and the
// server list that the overview and the alerts page share.

import { useEffect, useRef, useState, useSyncExternalStore } from 'react';

import { errorText, isAbortError } from './lib/async';
import { applySnapshot } from './lib/overview';
import { parseRoute, type Route } from './lib/route';
import type { DataSource } from './lib/source';
import type { ServerView, Snapshot } from './lib/types';

function subscribeHash(listener: () => void): () => void {
  window.addEventListener('hashchange', listener);
  return () => window.removeEventListener('hashchange', listener);
}

/** The current hash route. */
export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribeHash, () => window.location.hash);
  return parseRoute(hash);
}

/** The current time in Unix milliseconds, refreshed every `everyMs`. */
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

const darkQuery = () => window.matchMedia('(prefers-color-scheme: dark)');

function subscribeScheme(listener: () => void): () => void {
  const query = darkQuery();
  query.addEventListener('change', listener);
  return () => query.removeEventListener('change', listener);
}

/** The system's color scheme (charts read their colors again when it changes). */
export function useColorScheme(): 'light' | 'dark' {
  return useSyncExternalStore(subscribeScheme, () => (darkQuery().matches ? 'dark' : 'light'));
}

/** Calls `onSnapshot` for each live snapshot while mounted (the latest callback, without resubscribing). */
export function useLiveSnapshots(source: DataSource, onSnapshot: (snapshot: Snapshot) => void): void {
  const callback = useRef(onSnapshot);
  callback.current = onSnapshot;
  useEffect(
    () =>
      source.subscribe((event) => {
        if (event.type === 'snapshot') callback.current(event.snapshot);
      }),
    [source],
  );
}

/** How often the server list is fetched again (online status, new servers). */
const SERVERS_POLL_MS = 15_000;

/**
 * The server list: fetched now and every SERVERS_POLL_MS, and updated by
 * every live snapshot in between.
 */
export function useServers(source: DataSource): { servers: ServerView[] | null; error: string | null } {
  const [servers, setServers] = useState<ServerView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        setServers(await source.servers(controller.signal));
        setError(null);
      } catch (e) {
        if (isAbortError(e)) return;
        setError(errorText(e));
      }
      timer = setTimeout(() => void load(), SERVERS_POLL_MS);
    };
    void load();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [source]);
  useLiveSnapshots(source, (snapshot) => {
    setServers((current) => (current ? applySnapshot(current, snapshot) : current));
  });
  return { servers, error };
}
