import { useMemo, useState } from 'react';

import { formatBytes, formatNumber, formatPercent, MISSING } from '../lib/format';
import type { SortState } from '../lib/sort';
import { sortContainers, type ContainerRow, type ContainerSortKey } from '../lib/tables';
import { SortHeader } from './SortHeader';

/** The containers of a server: state, health, CPU, memory, network, restarts; every column sorts. */
export function ContainersTable({ rows }: { rows: ContainerRow[] }) {
  const [sort, setSort] = useState<SortState<ContainerSortKey>>({ key: 'name', dir: 'asc' });
  const sorted = useMemo(() => sortContainers(rows, sort.key, sort.dir), [rows, sort]);
  const header = (label: string, column: ContainerSortKey, className?: string) => (
    <SortHeader label={label} column={column} sort={sort} onSort={setSort} className={className} />
  );
  return (
    <div className="table-wrap">
      <table className="data-table" data-testid="containers-table">
        <caption className="visually-hidden">Containers, sortable by each column</caption>
        <thead>
          <tr>
            {header('Name', 'name')}
            {header('State', 'state')}
            {header('Health', 'health')}
            {header('CPU', 'cpu', 'num')}
            {header('Memory', 'memory', 'num')}
            {header('Network in / out', 'network', 'num')}
            {header('Restarts', 'restarts', 'num')}
          </tr>
        </thead>
        <tbody>
          {sorted.map((row) => (
            <tr key={row.name} data-testid="container-row" data-container={row.name}>
              <th scope="row">
                <span className="container-name">{row.name}</span>
                {row.image && <span className="subtle">{row.image}</span>}
              </th>
              <td>
                <span className={`pill state-${row.state === 'running' ? 'ok' : 'off'}`}>{row.state}</span>
                {row.status && <span className="subtle">{row.status}</span>}
              </td>
              <td>
                {row.health ? <span className={`pill health-${row.health}`}>{row.health}</span> : MISSING}
              </td>
              <td className="num">{formatPercent(row.cpuPercent)}</td>
              <td className="num">
                {formatBytes(row.memoryBytes)}
                {row.memoryLimitBytes !== null && row.memoryBytes !== null && (
                  <span className="subtle">of {formatBytes(row.memoryLimitBytes)}</span>
                )}
              </td>
              <td className="num">
                {formatBytes(row.rxBytes)} / {formatBytes(row.txBytes)}
              </td>
              <td className="num">{formatNumber(row.restarts)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
