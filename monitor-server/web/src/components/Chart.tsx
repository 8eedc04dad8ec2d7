// A uPlot time-series chart. uPlot draws on a canvas and sets sizes through
// element.style, which the strict Content-Security-Policy allows. One value
// axis per unit (two at most: left and right); a drag selects a time range
// (onZoom), and the cursors of all charts on a page move together.

import { useEffect, useMemo, useRef } from 'react';
import uPlot from 'uplot';

import { useColorScheme } from '../hooks';
import { BYTES_INCREMENTS, valueRange, type ChartSpec } from '../lib/charts';
import { formatValue } from '../lib/format';
import type { Aligned } from '../lib/lines';

export interface ChartProps {
  spec: ChartSpec;
  data: Aligned;
  /** The visible time range, Unix seconds. */
  from: number;
  to: number;
  onZoom?: (from: number, to: number) => void;
  height?: number;
}

/** Colors from the stylesheet's custom properties, so that they follow the theme. */
function themeColors(): { axis: string; grid: string; series: string[] } {
  const style = getComputedStyle(document.documentElement);
  const get = (name: string) => style.getPropertyValue(name).trim();
  return {
    axis: get('--chart-axis'),
    grid: get('--chart-grid'),
    series: Array.from({ length: 8 }, (_, i) => get(`--series-${i}`)),
  };
}

/** The units of a chart's lines, in order of appearance. */
function unitsOf(spec: ChartSpec): string[] {
  return [...new Set(spec.lines.map((l) => l.unit))].slice(0, 2);
}

function buildOptions(
  spec: ChartSpec,
  width: number,
  height: number,
  range: () => [number, number],
  onSelect: (from: number, to: number) => void,
): uPlot.Options {
  const colors = themeColors();
  const units = unitsOf(spec);
  const scaleOf = (unit: string) => `unit:${units.includes(unit) ? unit : (units[0] ?? '')}`;
  const scales: uPlot.Scales = { x: { time: true, range: () => range() } };
  const axes: uPlot.Axis[] = [
    { stroke: colors.axis, grid: { stroke: colors.grid, width: 1 }, ticks: { stroke: colors.grid } },
  ];
  units.forEach((unit, i) => {
    scales[scaleOf(unit)] = { range: (_u, min, max) => valueRange(unit, min, max) };
    const axis: uPlot.Axis = {
      scale: scaleOf(unit),
      side: i === 0 ? 3 : 1,
      size: 68,
      stroke: colors.axis,
      grid: { show: i === 0, stroke: colors.grid, width: 1 },
      ticks: { stroke: colors.grid },
      values: (_u, splits) => splits.map((v) => formatValue(v, unit)),
    };
    if (unit === 'bytes' || unit === 'bytes_per_second') axis.incrs = [...BYTES_INCREMENTS];
    axes.push(axis);
  });
  return {
    width,
    height,
    scales,
    axes,
    series: [
      {},
      ...spec.lines.map(
        (line, i): uPlot.Series => ({
          label: line.label,
          scale: scaleOf(line.unit),
          stroke: colors.series[i % colors.series.length] ?? colors.axis,
          width: 1.5,
          spanGaps: false,
          value: (_u, v) => formatValue(v, line.unit),
        }),
      ),
    ],
    cursor: {
      sync: { key: 'monitor' },
      drag: { x: true, y: false, setScale: false, dist: 5 },
    },
    hooks: {
      // When the chart last finished drawing, for the browser tests and
      // anyone profiling the page (one mark per chart, replaced each time).
      draw: [
        () => {
          const name = `chart-drawn:${spec.id}`;
          performance.clearMarks(name);
          performance.mark(name);
        },
      ],
      setSelect: [
        (u) => {
          const { left, width: w } = u.select;
          if (w <= 0) return;
          const a = u.posToVal(left, 'x');
          const b = u.posToVal(left + w, 'x');
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          onSelect(a, b);
        },
      ],
    },
  };
}

/** How many values the data holds (for tests and the empty notice). */
function countValues(data: Aligned): number {
  let n = 0;
  for (let s = 1; s < data.length; s++) {
    for (const v of data[s] ?? []) if (typeof v === 'number') n++;
  }
  return n;
}

/** The newest value of each line, in words, for screen readers. */
function summary(spec: ChartSpec, data: Aligned): string {
  const parts = spec.lines.map((line, i) => {
    const column = data[i + 1] ?? [];
    for (let j = column.length - 1; j >= 0; j--) {
      const v = column[j];
      if (typeof v === 'number') return `${line.label} ${formatValue(v, line.unit)}`;
    }
    return `${line.label} no data`;
  });
  return `${spec.title}, newest values: ${parts.join(', ')}.`;
}

export function Chart({ spec, data, from, to, onZoom, height = 180 }: ChartProps) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const scheme = useColorScheme();
  // The latest props, for uPlot callbacks made once at creation.
  const latest = useRef({ data, from, to, onZoom });
  latest.current = { data, from, to, onZoom };
  // The chart is made again only when its lines change, not on new data.
  const signature = spec.lines.map((l) => `${l.key}\t${l.label}\t${l.unit}`).join('\n');

  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const options = buildOptions(
      spec,
      Math.max(element.clientWidth, 100),
      height,
      () => [latest.current.from, latest.current.to],
      (a, b) => latest.current.onZoom?.(a, b),
    );
    const u = new uPlot(options, latest.current.data, element);
    plot.current = u;
    const observer = new ResizeObserver(() => {
      if (element.clientWidth > 0) u.setSize({ width: element.clientWidth, height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = null;
    };
    // `spec` is read through `signature`: a new object with the same lines keeps the chart.
  }, [signature, scheme, height]);

  useEffect(() => {
    if (!plot.current) return;
    const name = `chart-data:${spec.id}`;
    performance.clearMarks(name);
    performance.mark(name);
    plot.current.setData(data, true);
  }, [data, from, to]);

  const count = useMemo(() => countValues(data), [data]);
  const description = useMemo(() => summary(spec, data), [spec, data]);

  return (
    <figure className="chart" data-testid="chart" data-chart={spec.id} data-points={count}>
      <figcaption className="chart-title">{spec.title}</figcaption>
      <p className="visually-hidden">{description}</p>
      <div className="chart-plot" ref={holder} aria-hidden="true" />
      {count === 0 && <p className="chart-empty">No data in this range</p>}
    </figure>
  );
}
