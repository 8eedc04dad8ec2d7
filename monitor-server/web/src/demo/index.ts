// Demo mode: the whole dashboard on synthetic data, with no server at all.
// It is used when the address asks for it (`?demo=1`, read by `isDemo` in
// lib/token.ts): main.tsx then imports this module instead of building the
// HTTP source, so the demo is a chunk of its own that nobody else downloads.
//
// The demo imitates the server behind the same `DataSource` the pages use:
// a deterministic fleet and its history (generator.ts), an alert engine of
// its own over it (alerts.ts, rules.ts), rule previews (preview.ts), and
// thresholds, rules and silences kept in memory (source.ts). It is kept
// apart from the real logic on purpose: it may use lib/ (types, the
// `DataSource` interface, pure helpers), but nothing outside this folder
// imports anything of it except this module, and lib/ imports nothing of it.

import type { DataSource } from '../lib/source';
import { DemoSource } from './source';

/** A data source of synthetic data on the current clock, that contacts no server. */
export function createDemoSource(): DataSource {
  return new DemoSource();
}
