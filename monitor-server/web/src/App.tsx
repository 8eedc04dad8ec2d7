import { useEffect, useRef, useState, useSyncExternalStore } from 'react';

import { Banner } from './components/Banner';
import { TokenForm } from './components/TokenForm';
import { useAccess, useRoute } from './hooks';
import { routeHref, type Route } from './lib/route';
import type { DataSource } from './lib/source';
import { AlertsPage } from './pages/AlertsPage';
import { OverviewPage } from './pages/OverviewPage';
import { ServerPage } from './pages/ServerPage';

/** How often an unreachable backend is asked again (the stream retries on its own too). */
const RECHECK_MS = 5000;

function pageTitle(route: Route): string {
  switch (route.page) {
    case 'overview':
      return 'Servers';
    case 'server':
      return route.serverId;
    case 'alerts':
      return 'Alerts';
  }
}

export function App({ source, onToken }: { source: DataSource; onToken: (token: string) => void }) {
  const route = useRoute();
  const connection = useSyncExternalStore(source.connection.subscribe, source.connection.get);
  // Bumped by a new token: the page is mounted again and fetches everything anew.
  const [generation, setGeneration] = useState(0);
  const [version, setVersion] = useState<string | null>(null);
  // What the token may do: learned once, again after a new token; quietly (no banner of its own).
  const access = useAccess(source, generation, connection.state);
  const main = useRef<HTMLElement>(null);

  const title = pageTitle(route);
  useEffect(() => {
    document.title = `${title} · monitor`;
  }, [title]);

  // After navigation, move the focus to the new page, as a full page load would.
  const routeKey = routeHref(route);
  const firstRoute = useRef(true);
  useEffect(() => {
    if (firstRoute.current) {
      firstRoute.current = false;
      return;
    }
    main.current?.focus();
  }, [routeKey]);

  useEffect(() => {
    if (connection.state !== 'unreachable') return;
    const timer = setInterval(() => void source.check(), RECHECK_MS);
    return () => clearInterval(timer);
  }, [connection.state, source]);

  useEffect(() => {
    source.version().then(setVersion, () => undefined);
  }, [source, generation]);

  const submitToken = (token: string) => {
    onToken(token);
    setGeneration((g) => g + 1);
    void source.check();
  };

  const navLink = (target: Route, label: string) => (
    <a href={routeHref(target)} aria-current={route.page === target.page ? 'page' : undefined}>
      {label}
    </a>
  );

  return (
    <>
      <header className="app-header">
        <a className="brand" href={routeHref({ page: 'overview' })}>
          monitor
        </a>
        <nav aria-label="Main">
          {navLink({ page: 'overview' }, 'Servers')}
          {navLink({ page: 'alerts' }, 'Alerts')}
        </nav>
        {source.demo && (
          <span className="demo-badge" data-testid="demo-badge">
            Demo data
          </span>
        )}
      </header>
      <Banner connection={connection} />
      {connection.state === 'unauthorized' && <TokenForm onSubmit={submitToken} />}
      <main ref={main} tabIndex={-1} key={`${generation}:${routeKey}`}>
        {route.page === 'overview' && <OverviewPage source={source} />}
        {route.page === 'server' && <ServerPage source={source} serverId={route.serverId} />}
        {route.page === 'alerts' && <AlertsPage source={source} access={access} />}
      </main>
      <footer className="app-footer subtle">
        {source.demo
          ? 'Synthetic data: no server is contacted.'
          : version
            ? `monitor-server ${version}`
            : ''}
      </footer>
    </>
  );
}
