import type { Connection } from '../lib/source';

/**
 * The red banner of the original dashboard: shown while the backend does not
 * answer or refuses the token, gone as soon as it answers again. It sits in a
 * live region, so screen readers announce it.
 */
export function Banner({ connection }: { connection: Connection }) {
  return (
    <div className="banner-region" aria-live="assertive" aria-atomic="true">
      {connection.state === 'unreachable' && (
        <div className="banner" data-testid="banner" data-state="unreachable">
          <strong>The monitor server is not answering</strong>
          {connection.detail !== '' && <> ({connection.detail})</>}. Retrying… Check that it runs:{' '}
          <code>/api/health</code>.
        </div>
      )}
      {connection.state === 'unauthorized' && (
        <div className="banner" data-testid="banner" data-state="unauthorized">
          <strong>The dashboard token is missing or invalid.</strong> Enter it below, or open the page with{' '}
          <code>?token=…</code>.
        </div>
      )}
    </div>
  );
}
