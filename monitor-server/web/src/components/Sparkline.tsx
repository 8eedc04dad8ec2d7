import { sparklinePath } from '../lib/sparkline';
import type { LineData } from '../lib/lines';

const WIDTH = 120;
const HEIGHT = 28;

/** A percentage over the last hour, as a small SVG line (gaps stay gaps). */
export function Sparkline({ line, from, to, label }: { line: LineData | undefined; from: number; to: number; label: string }) {
  const path = line ? sparklinePath(line, from, to, WIDTH, HEIGHT) : '';
  return (
    <svg
      className="sparkline"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      preserveAspectRatio="none"
      role="img"
      aria-label={label}
      data-testid="sparkline"
    >
      <line className="sparkline-base" x1="0" y1={HEIGHT - 0.5} x2={WIDTH} y2={HEIGHT - 0.5} />
      {path !== '' && <path className="sparkline-line" d={path} />}
    </svg>
  );
}
