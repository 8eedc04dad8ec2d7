import { useId } from 'react';

import type { DeliveryStatus } from '../../lib/types';
import { When } from './AlertBits';

/** Each notifier's deliveries; shown only when a notifier is configured. */
export function NotifiersPanel({ notifiers, now }: { notifiers: readonly DeliveryStatus[]; now: number }) {
  const id = useId();
  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Notifiers</h2>
      <p className="subtle">Deliveries since the server started; failures are retried before they count.</p>
      <div className="table-wrap">
        <table className="data-table stack-table" data-testid="notifiers-table">
          <caption className="visually-hidden">Notifiers and their deliveries</caption>
          <thead>
            <tr>
              <th scope="col">Notifier</th>
              <th scope="col" className="num">
                Delivered
              </th>
              <th scope="col" className="num">
                Failed
              </th>
              <th scope="col" className="num">
                Queued
              </th>
              <th scope="col">Last error</th>
            </tr>
          </thead>
          <tbody>
            {notifiers.map((n) => (
              <tr key={n.notifier} data-testid="notifier-row" data-notifier={n.notifier}>
                <th scope="row" data-label="Notifier">
                  {n.notifier}
                </th>
                <td className="num" data-label="Delivered">
                  {n.delivered.toLocaleString()}
                </td>
                <td className={n.failed > 0 ? 'num over' : 'num'} data-label="Failed">
                  {n.failed.toLocaleString()}
                </td>
                <td className="num" data-label="Queued">
                  {n.queued.toLocaleString()}
                </td>
                <td data-label="Last error">
                  {n.last_error ? (
                    <>
                      <span className="wrap-anywhere">{n.last_error}</span>
                      {n.last_error_at !== undefined && <When at={n.last_error_at} now={now} />}
                    </>
                  ) : (
                    <span className="subtle">none</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
