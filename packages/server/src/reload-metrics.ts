import { Counter, Gauge, type Registry } from 'prom-client';

export type ReloadResult = 'ok' | 'refused';

/** Reloads by result, and whether the last one took, as an operator's alert wants them. */
export class ReloadMetrics {
  readonly #total: Counter<'result'>;
  readonly #lastOk: Gauge;
  readonly #lastSuccess: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#total = new Counter({
      name: 'homing_config_reload_total',
      help: 'Config reloads (SIGHUP) by result: ok, refused (the running config stayed)',
      labelNames: ['result'],
      registers,
    });
    this.#lastOk = new Gauge({
      name: 'homing_config_last_reload_successful',
      help: '1 when the last reload applied (or none was tried), 0 when it was refused',
      // With workers: 0 when any worker refused it.
      aggregator: 'min',
      registers,
    });
    this.#lastSuccess = new Gauge({
      name: 'homing_config_last_reload_success_timestamp_seconds',
      help: 'When the config last applied: the start, or the last reload that took',
      aggregator: 'max',
      registers,
    });
    this.#lastOk.set(1);
    this.#lastSuccess.set(Date.now() / 1000);
    for (const result of ['ok', 'refused'] as const) this.#total.inc({ result }, 0);
  }

  record(result: ReloadResult): void {
    this.#total.inc({ result });
    this.#lastOk.set(result === 'ok' ? 1 : 0);
    if (result === 'ok') this.#lastSuccess.set(Date.now() / 1000);
  }
}
