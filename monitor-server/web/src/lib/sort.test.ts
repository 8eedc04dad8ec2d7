import { describe, expect, it } from 'vitest';

import { nextSort, sortBy } from './sort';

describe('sortBy', () => {
  const rows = [
    { name: 'b', v: 2 },
    { name: 'a', v: null },
    { name: 'c', v: 10 },
    { name: 'd', v: 2 },
  ];

  it('sorts numbers both ways with missing values last', () => {
    expect(sortBy(rows, (r) => r.v, 'asc', (r) => r.name).map((r) => r.name)).toEqual(['b', 'd', 'c', 'a']);
    expect(sortBy(rows, (r) => r.v, 'desc', (r) => r.name).map((r) => r.name)).toEqual(['c', 'b', 'd', 'a']);
  });

  it('sorts text naturally and without case', () => {
    const names = ['web-10', 'Web-2', 'db'].map((name) => ({ name }));
    expect(sortBy(names, (r) => r.name, 'asc').map((r) => r.name)).toEqual(['db', 'Web-2', 'web-10']);
  });

  it('does not change its input', () => {
    const copy = [...rows];
    sortBy(rows, (r) => r.v, 'desc');
    expect(rows).toEqual(copy);
  });
});

describe('nextSort', () => {
  it('flips the direction of the same column, starts another ascending', () => {
    expect(nextSort({ key: 'cpu', dir: 'asc' }, 'cpu')).toEqual({ key: 'cpu', dir: 'desc' });
    expect(nextSort({ key: 'cpu', dir: 'desc' }, 'cpu')).toEqual({ key: 'cpu', dir: 'asc' });
    expect(nextSort({ key: 'cpu', dir: 'desc' }, 'name')).toEqual({ key: 'name', dir: 'asc' });
  });
});
