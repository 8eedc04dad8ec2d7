// Hash routes, so that the server needs no route but `/` and the assets:
// `#/` (overview), `#/server/srv-01`, `#/alerts`.

export type Route =
  | { page: 'overview' }
  | { page: 'server'; serverId: string }
  | { page: 'alerts' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '');
  const parts = path.split('/').filter((p) => p !== '');
  if (parts[0] === 'server' && parts.length === 2 && parts[1] !== undefined) {
    try {
      return { page: 'server', serverId: decodeURIComponent(parts[1]) };
    } catch {
      return { page: 'overview' }; // a malformed escape
    }
  }
  if (parts[0] === 'alerts' && parts.length === 1) return { page: 'alerts' };
  return { page: 'overview' };
}

export function routeHref(route: Route): string {
  switch (route.page) {
    case 'overview':
      return '#/';
    case 'server':
      return `#/server/${encodeURIComponent(route.serverId)}`;
    case 'alerts':
      return '#/alerts';
  }
}
