import { describe, expect, it } from 'vitest';

import { sparklinePath } from './sparkline';

describe('sparklinePath', () => {
  it('draws the visible points scaled to the box, breaking at gaps', () => {
    const line = { t: [0, 50, 75, 100, 200], v: [0, 100, null, 50, 10] };
    expect(sparklinePath(line, 0, 100, 100, 20)).toBe('M0.0 20.0L50.0 0.0M100.0 10.0');
  });

  it('clamps values to the axis and is empty without visible points', () => {
    expect(sparklinePath({ t: [0, 10], v: [-5, 500] }, 0, 10, 10, 10)).toBe('M0.0 10.0L10.0 0.0');
    expect(sparklinePath({ t: [0], v: [1] }, 10, 20, 10, 10)).toBe('');
    expect(sparklinePath({ t: [0], v: [1] }, 10, 10, 10, 10)).toBe('');
  });
});
