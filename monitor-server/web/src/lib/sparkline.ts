// The overview's sparklines: an SVG path per line, broken at gaps.

import type { LineData } from './lines';

/**
 * An SVG path of `line` between `fromSec` and `toSec` in a `width` × `height`
 * box, the value axis running from 0 to `maxValue` (clamped); a new subpath
 * starts after each null, so gaps stay gaps. Empty when nothing is visible.
 */
export function sparklinePath(
  line: LineData,
  fromSec: number,
  toSec: number,
  width: number,
  height: number,
  maxValue = 100,
): string {
  const span = toSec - fromSec;
  if (span <= 0) return '';
  const parts: string[] = [];
  let penDown = false;
  for (let i = 0; i < line.t.length; i++) {
    const t = line.t[i] as number;
    const v = line.v[i];
    if (t < fromSec || t > toSec) continue;
    if (v === null || v === undefined) {
      penDown = false;
      continue;
    }
    const x = ((t - fromSec) / span) * width;
    const y = height - (Math.min(Math.max(v, 0), maxValue) / maxValue) * height;
    parts.push(`${penDown ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`);
    penDown = true;
  }
  return parts.join('');
}
