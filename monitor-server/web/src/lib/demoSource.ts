// The data source of `?demo=1`: the demo generator behind the DataSource
// interface, with no backend at all. Thresholds live in memory.

import { ApiError, type HistoryRequest } from './api';
import { parseThresholds, thresholdInput } from './alerts';
import {
  DEMO_THRESHOLDS,
  demoHistory,
  demoLiveSnapshots,
  demoSeries,
  demoServers,
  demoTick,
} from './demo';
import { ConnectionStore, type DataSource, type LiveEvent } from './source';
import type { Thresholds } from './types';

export class DemoSource implements DataSource {
  readonly demo = true;
  readonly connection = new ConnectionStore();
  private current: Thresholds = { ...DEMO_THRESHOLDS };

  /** `now` gives the current time in Unix milliseconds. */
  constructor(private readonly now: () => number = Date.now) {}

  private nowSec(): number {
    return this.now() / 1000;
  }

  async servers() {
    return demoServers(this.nowSec());
  }

  async series(serverId: string) {
    const series = demoSeries(serverId, this.nowSec());
    if (series === null) throw new ApiError(404, 'not_found', `unknown server ${serverId}`);
    return series;
  }

  async history(request: HistoryRequest) {
    return demoHistory(request, this.nowSec());
  }

  async thresholds() {
    return { ...this.current };
  }

  async setThresholds(thresholds: Thresholds) {
    const parsed = parseThresholds(thresholdInput(thresholds));
    if (parsed.thresholds === null) {
      throw new ApiError(422, 'invalid_threshold', 'thresholds must be between 0 and 100');
    }
    this.current = parsed.thresholds;
    return { ...this.current };
  }

  async version() {
    return 'demo';
  }

  /** Every up server's snapshot at each collection tick, checked every second. */
  subscribe(listener: (event: LiveEvent) => void): () => void {
    let last = demoTick(this.nowSec());
    const timer = setInterval(() => {
      const tick = demoTick(this.nowSec());
      if (tick <= last) return;
      // After a pause (a sleeping laptop) only the current tick is sent.
      last = tick;
      for (const snapshot of demoLiveSnapshots(tick)) listener({ type: 'snapshot', snapshot });
    }, 1000);
    return () => clearInterval(timer);
  }

  setToken(): void {
    // The demo needs no token.
  }

  async check(): Promise<void> {
    // Always reachable.
  }
}
