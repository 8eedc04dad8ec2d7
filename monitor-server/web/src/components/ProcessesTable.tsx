import { useMemo, useState } from 'react';

import { formatBytes, formatPercent, MISSING } from '../lib/format';
import type { SortState } from '../lib/sort';
import { sortProcesses, type ProcessRow, type ProcessSortKey } from '../lib/tables';
import { SortHeader } from './SortHeader';

/** A host's top processes: name and command line, pid, owner, CPU, memory; every column sorts. */
export function ProcessesTable({ rows }: { rows: ProcessRow[] }) {
  const [sort, setSort] = useState<SortState<ProcessSortKey>>({ key: 'cpu', dir: 'desc' });
  const sorted = useMemo(() => sortProcesses(rows, sort.key, sort.dir), [rows, sort]);
  const header = (label: string, column: ProcessSortKey, className?: string) => (
    <SortHeader label={label} column={column} sort={sort} onSort={setSort} className={className} />
  );
  return (
    <div className="table-wrap">
      <table className="data-table" data-testid="processes-table">
        <caption className="visually-hidden">Top processes, sortable by each column</caption>
        <thead>
          <tr>
            {header('Process', 'name')}
            {header('PID', 'pid', 'num')}
            {header('User', 'user')}
            {header('CPU', 'cpu', 'num')}
            {header('Memory', 'memory', 'num')}
          </tr>
        </thead>
        <tbody>
          {sorted.map((row) => (
            <tr key={row.pid} data-testid="process-row" data-pid={row.pid} data-rss={row.rssBytes ?? undefined}>
              <th scope="row">
                <span data-testid="process-name">{row.command === null ? `[${row.name}]` : row.name}</span>
                {row.command !== null && (
                  <span className="subtle process-command" title={row.command}>
                    {row.command}
                  </span>
                )}
              </th>
              <td className="num">{row.pid}</td>
              <td>{row.user ?? MISSING}</td>
              <td className="num">{formatPercent(row.cpuPercent)}</td>
              <td className="num">{formatBytes(row.rssBytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
