import { Fragment } from 'react';

import { formatAgo, formatWhen, MISSING } from '../../lib/format';
import { parseOptionalTimestamp } from '../../lib/time';
import type { Labels, Severity, Timestamp } from '../../lib/types';

/** Severity in words and in color. */
export function SeverityPill({ severity }: { severity: Severity | undefined }) {
  const s = severity ?? 'warning';
  return <span className={`pill severity-${s}`}>{s}</span>;
}

/** A series' labels as text chips (`mountpoint=/`), or a dash when there are none. */
export function LabelList({ labels }: { labels: Labels }) {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return <span className="subtle">{MISSING}</span>;
  return (
    <span className="tags">
      {keys.map((k) => (
        <span key={k} className="tag label-chip">
          <span className="label-name">{k}</span>=<span>{labels[k] === '' ? '""' : labels[k]}</span>
        </span>
      ))}
    </span>
  );
}

/** An instant: how long ago, with the local date and time under it. */
export function When({ at, now }: { at: Timestamp | null | undefined; now: number }) {
  const ms = parseOptionalTimestamp(at);
  if (ms === null) return <span className="subtle">{MISSING}</span>;
  return (
    <time dateTime={new Date(ms).toISOString()}>
      {formatAgo(ms, now)}
      <span className="subtle">{formatWhen(ms, now)}</span>
    </time>
  );
}

/** An identifier (`filesystem_used_percent`) that may break after its underscores, never inside a word. */
export function Ident({ text }: { text: string }) {
  const parts = text.split(/(?<=_)/);
  return (
    <>
      {parts.map((part, i) => (
        <Fragment key={i}>
          {part}
          {i < parts.length - 1 && <wbr />}
        </Fragment>
      ))}
    </>
  );
}
