// Table sorting shared by the overview, the containers and the processes tables.

export type SortDir = 'asc' | 'desc';
export type SortValue = string | number | null | undefined;

function missing(v: SortValue): v is null | undefined {
  return v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v));
}

/**
 * A sorted copy of `rows` by `value`; missing values go last in either
 * direction, and ties keep the order of `tiebreak` (then the input order).
 */
export function sortBy<T>(
  rows: readonly T[],
  value: (row: T) => SortValue,
  dir: SortDir,
  tiebreak: (row: T) => string = () => '',
): T[] {
  const sign = dir === 'asc' ? 1 : -1;
  return rows
    .map((row, index) => ({ row, index, v: value(row), tie: tiebreak(row) }))
    .sort((a, b) => {
      const am = missing(a.v);
      const bm = missing(b.v);
      if (am !== bm) return am ? 1 : -1;
      if (!am && !bm && a.v !== b.v) {
        const cmp =
          typeof a.v === 'number' && typeof b.v === 'number'
            ? a.v - b.v
            : String(a.v).localeCompare(String(b.v), undefined, { numeric: true, sensitivity: 'base' });
        if (cmp !== 0) return sign * cmp;
      }
      const tie = a.tie.localeCompare(b.tie, undefined, { numeric: true });
      return tie !== 0 ? tie : a.index - b.index;
    })
    .map((x) => x.row);
}

export interface SortState<K extends string> {
  key: K;
  dir: SortDir;
}

/** The next sort after a click on column `key`: the other direction, or this column ascending. */
export function nextSort<K extends string>(current: SortState<K>, key: K): SortState<K> {
  return current.key === key ? { key, dir: current.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: 'asc' };
}
