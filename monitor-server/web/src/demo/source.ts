// The data source of `?demo=1`: the demo generator behind the DataSource
// interface, with no backend at all. Thresholds, rules and silences live in
// memory; alerts come from the demo's own engine (alerts.ts).

import { FULL_ACCESS } from '../lib/access';
import { parseThresholds, thresholdInput } from '../lib/alerts';
import { ApiError, type EventsRequest, type HistoryRequest, type PreviewRequest } from '../lib/api';
import { ConnectionStore, type DataSource, type LiveEvent } from '../lib/source';
import { parseTimestamp } from '../lib/time';
import type { AlertRule, NewSilence, Thresholds } from '../lib/types';
import { DemoAlerts } from './alerts';
import { demoHistory, demoLiveSnapshots, demoSeries, demoServers, demoTick } from './generator';
import { demoPreview } from './preview';
import { validateRule } from './rules';

/** A copy, so that a page never holds the engine's own objects. */
const clone = <T>(value: T): T => structuredClone(value);

export class DemoSource implements DataSource {
  readonly demo = true;
  readonly connection = new ConnectionStore();
  private engine: DemoAlerts | null = null;
  private readonly listeners = new Set<(event: LiveEvent) => void>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private lastTick = 0;

  /** `now` gives the current time in Unix milliseconds. */
  constructor(private readonly now: () => number = Date.now) {}

  private nowSec(): number {
    return this.now() / 1000;
  }

  /** The alert engine, brought up to the current tick; its new events go to the listeners. */
  private alerts(): DemoAlerts {
    if (this.engine === null) {
      // The first evaluation's history is not news: it is not sent live.
      this.engine = new DemoAlerts(this.nowSec());
      this.engine.advance(this.nowSec());
      return this.engine;
    }
    const events = this.engine.advance(this.nowSec());
    for (const event of events) for (const listener of [...this.listeners]) listener({ type: 'alert', event: clone(event) });
    return this.engine;
  }

  /** Demo mode allows everything (the page does not even ask). */
  async access() {
    return { ...FULL_ACCESS };
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
    return { ...this.alerts().thresholds };
  }

  async setThresholds(thresholds: Thresholds) {
    const parsed = parseThresholds(thresholdInput(thresholds));
    if (parsed.thresholds === null) {
      throw new ApiError(422, 'invalid_threshold', 'thresholds must be between 0 and 100');
    }
    const engine = this.alerts();
    engine.thresholds = parsed.thresholds;
    return { ...engine.thresholds };
  }

  async firing() {
    return clone(this.alerts().firing());
  }

  async alertEvents(request: EventsRequest) {
    const since = request.since === undefined ? -Infinity : request.since * 1000;
    const limit = Math.min(request.limit ?? 100, 10_000);
    let events = this.alerts().eventList();
    if (request.before !== undefined) {
      // As the server pages: after the event of that id in the whole newest-first list; an unknown id, none.
      const cursor = events.findIndex((e) => e.id === request.before);
      if (cursor === -1) return [];
      events = events.slice(cursor + 1);
    }
    return clone(
      events
        .filter(
          (e) =>
            (!request.serverId || e.server_id === request.serverId) &&
            (!request.ruleId || e.rule_id === request.ruleId) &&
            parseTimestamp(e.at) >= since,
        )
        .slice(0, limit),
    );
  }

  async rules() {
    return clone(this.alerts().rules());
  }

  async createRule(rule: AlertRule) {
    const result = this.alerts().addRule(rule);
    if ('status' in result) throw new ApiError(result.status, result.code, result.message);
    return clone(result);
  }

  async replaceRule(id: string, rule: AlertRule) {
    const engine = this.alerts();
    if (rule.id !== '' && rule.id !== id) {
      throw new ApiError(400, 'id_mismatch', `the body's id "${rule.id}" is not the path's "${id}"`);
    }
    const problem = validateRule(rule);
    if (problem !== null) throw new ApiError(422, 'invalid_rule', problem);
    if (!engine.rules().some((r) => r.id === id)) throw new ApiError(404, 'not_found', `alert rule ${id} not found`);
    const stored = { ...clone(rule), id };
    engine.stored = [...engine.stored.filter((r) => r.id !== id), stored];
    engine.forgetRemoved();
    return clone(stored);
  }

  async deleteRule(id: string) {
    const engine = this.alerts();
    if (!engine.stored.some((r) => r.id === id)) throw new ApiError(404, 'not_found', `alert rule ${id} not found`);
    engine.stored = engine.stored.filter((r) => r.id !== id);
    // A built-in rule it replaced comes back; a user rule's alerts are forgotten.
    engine.forgetRemoved();
  }

  async previewRule(rule: AlertRule, request: PreviewRequest = {}, signal?: AbortSignal) {
    // A day of history takes a moment to generate: first the page shows that it is loading.
    await new Promise((resolve) => setTimeout(resolve, 0));
    signal?.throwIfAborted();
    return demoPreview(rule, request, this.nowSec());
  }

  async silences() {
    const now = this.now();
    return clone(this.alerts().silences.filter((s) => parseTimestamp(s.until) > now));
  }

  async createSilence(silence: NewSilence) {
    const result = this.alerts().addSilence(silence, this.nowSec());
    if (typeof result === 'string') throw new ApiError(422, 'invalid_silence', result);
    return clone(result);
  }

  async deleteSilence(id: string) {
    const engine = this.alerts();
    if (!engine.silences.some((s) => s.id === id)) throw new ApiError(404, 'not_found', `silence ${id} not found`);
    engine.silences = engine.silences.filter((s) => s.id !== id);
  }

  async notifiers() {
    return clone(this.alerts().notifiers());
  }

  async version() {
    return 'demo';
  }

  /**
   * Every up server's snapshot at each collection tick, then the alert
   * transitions of that tick, checked every second while anyone listens.
   */
  subscribe(listener: (event: LiveEvent) => void): () => void {
    this.listeners.add(listener);
    if (this.timer === null) {
      this.lastTick = demoTick(this.nowSec());
      this.alerts();
      this.timer = setInterval(() => this.tick(), 1000);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
        this.lastTick = 0;
      }
    };
  }

  private tick(): void {
    const tick = demoTick(this.nowSec());
    if (tick <= this.lastTick) return;
    // After a pause (a sleeping laptop) only the current tick is sent.
    this.lastTick = tick;
    const snapshots = demoLiveSnapshots(tick);
    for (const snapshot of snapshots) for (const listener of [...this.listeners]) listener({ type: 'snapshot', snapshot });
    this.alerts();
  }

  setToken(): void {
    // The demo needs no token.
  }

  async check(): Promise<void> {
    // Always reachable.
  }
}
