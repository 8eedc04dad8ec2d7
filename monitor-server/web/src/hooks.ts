// React glue over the lib/ modules: routing, time, live events, and the
// server list that the overview and the alerts page share.

import { useEffect, useRef, useState, useSyncExternalStore } from 'react';

import { FULL_ACCESS, learnAccess, UNKNOWN_ACCESS, type AccessState } from './lib/access';
import { applyAlertEvent, reconcileFiring } from './lib/alertFeed';
import type { ConnectionState } from './lib/api';
import { errorText, isAbortError } from './lib/async';
import { applySnapshot } from './lib/overview';
import { parseRoute, type Route } from './lib/route';
import type { DataSource } from './lib/source';
import type { Access, AlertEvent, AlertStateRecord, ServerView, Snapshot } from './lib/types';

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

/** Calls `onAlert` for each live alert transition while mounted (the latest callback, without resubscribing). */
export function useLiveAlerts(source: DataSource, onAlert: (event: AlertEvent) => void): void {
  const callback = useRef(onAlert);
  callback.current = onAlert;
  useEffect(
    () =>
      source.subscribe((event) => {
        if (event.type === 'alert') callback.current(event.event);
      }),
    [source],
  );
}

/** How often the firing list is read again (the live events keep it current in between). */
export const FIRING_POLL_MS = 30_000;

export interface FiringState {
  /** Null until the first answer. */
  firing: AlertStateRecord[] | null;
  error: string | null;
  /** Reads the list again now (after a rule changed, say). */
  refresh: () => void;
}

/**
 * The alerts firing now: read now and every FIRING_POLL_MS, and updated by
 * every live `alert` event in between. The events that arrive while a read
 * is on its way are applied again to its answer, which may predate them.
 */
export function useFiring(source: DataSource): FiringState {
  const [firing, setFiring] = useState<AlertStateRecord[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  // Per read in flight, the live events received since it was sent.
  const inFlight = useRef(new Set<AlertEvent[]>());

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      const live: AlertEvent[] = [];
      inFlight.current.add(live);
      try {
        const fetched = await source.firing(controller.signal);
        setFiring(reconcileFiring(fetched, live));
        setError(null);
      } catch (e) {
        if (isAbortError(e)) return;
        setError(errorText(e));
      } finally {
        inFlight.current.delete(live);
      }
      timer = setTimeout(() => void load(), FIRING_POLL_MS);
    };
    void load();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [source, generation]);

  useLiveAlerts(source, (event) => {
    for (const live of inFlight.current) live.push(event);
    setFiring((current) => (current ? applyAlertEvent(current, event) : current));
  });

  const refresh = useRef(() => setGeneration((g) => g + 1)).current;
  return { firing, error, refresh };
}

export interface Polled<T> {
  /** Null until the first answer. */
  data: T | null;
  error: string | null;
  /** Reads again now. */
  reload: () => void;
}

/**
 * The answer of `load`: read when mounted, again every `everyMs` (never
 * when null) and on `reload()`. The latest answer wins; an older read still
 * on its way is aborted.
 */
export function usePolled<T>(source: DataSource, load: (signal: AbortSignal) => Promise<T>, everyMs: number | null): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const loader = useRef(load);
  loader.current = load;
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        setData(await loader.current(controller.signal));
        setError(null);
      } catch (e) {
        if (isAbortError(e)) return;
        setError(errorText(e));
      }
      if (everyMs !== null) timer = setTimeout(() => void run(), everyMs);
    };
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [source, everyMs, generation]);
  const reload = useRef(() => setGeneration((g) => g + 1)).current;
  return { data, error, reload };
}

/**
 * What the caller's token may do (`GET /api/access`, which shows no banner
 * by itself): asked when mounted, again for a new token (`generation`), and
 * again when the server answers after a failure that made the page assume
 * (see `learnAccess`). Null until known. Demo mode asks nothing: everything
 * is allowed.
 */
export function useAccess(source: DataSource, generation: number, connection: ConnectionState): Access | null {
  // What was learned, and for which token (`generation`): an answer for an older token counts for nothing.
  const [learned, setLearned] = useState<AccessState & { generation: number }>({ ...UNKNOWN_ACCESS, generation });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    if (source.demo) return;
    const controller = new AbortController();
    learnAccess(() => source.access(controller.signal)).then(
      (state) => {
        if (!controller.signal.aborted) setLearned({ ...state, generation });
      },
      () => undefined, // aborted
    );
    return () => controller.abort();
  }, [source, generation, attempt]);

  // Assumed while the server was down or refused the token: ask again once it answers.
  const current = learned.generation === generation ? learned : UNKNOWN_ACCESS;
  const askAgain = current.askAgain;
  const wasDown = useRef(false);
  useEffect(() => {
    if (connection !== 'ok') {
      wasDown.current = true;
      return;
    }
    if (wasDown.current && askAgain) {
      wasDown.current = false;
      setAttempt((a) => a + 1);
    }
  }, [connection, askAgain]);

  return source.demo ? FULL_ACCESS : current.access;
}
