import { formatBytes, formatPercent } from '../lib/format';
import type { FilesystemRow } from '../lib/tables';

/** Each mounted filesystem's size, use and free space, as `df -h` shows them. */
export function FilesystemsTable({ rows, threshold }: { rows: FilesystemRow[]; threshold: number | null }) {
  return (
    <div className="table-wrap">
      <table className="data-table" data-testid="filesystems-table">
        <caption className="visually-hidden">Filesystems</caption>
        <thead>
          <tr>
            <th scope="col">Mountpoint</th>
            <th scope="col">Device</th>
            <th scope="col" className="num">Size</th>
            <th scope="col" className="num">Used</th>
            <th scope="col" className="num">Available</th>
            <th scope="col" className="num">Use</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.mountpoint}>
              <th scope="row">{row.mountpoint}</th>
              <td>
                {row.device} <span className="subtle">{row.fstype}</span>
              </td>
              <td className="num">{formatBytes(row.sizeBytes)}</td>
              <td className="num">{formatBytes(row.usedBytes)}</td>
              <td className="num">{formatBytes(row.availBytes)}</td>
              <td className={`num${threshold !== null && row.usedPercent !== null && row.usedPercent > threshold ? ' over' : ''}`}>
                {formatPercent(row.usedPercent)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
