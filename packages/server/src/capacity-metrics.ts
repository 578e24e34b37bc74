import type { Admission, LocalErrorContext } from '@homing/proxy-core';
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the node holds and what it turns away or fails for want of its own resources. */
export class CapacityMetrics {
  readonly #localErrors: Counter<'code' | 'context'>;
  #admission: Admission | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    const self = this;
    this.#localErrors = new Counter({
      name: 'homing_local_errors_total',
      help: "The node's own resource errors (EMFILE, EADDRNOTAVAIL...) on backend connects and probes; no backend is blamed for them",
      labelNames: ['code', 'context'],
      registers,
    });
    new Gauge({
      name: 'homing_session_capacity',
      help: 'Client connections the node holds at once (descriptor limit or limits.max_sessions); -1: unbounded',
      registers,
      collect() {
        const capacity = self.#admission?.capacity ?? Number.POSITIVE_INFINITY;
        this.set(Number.isFinite(capacity) ? capacity : -1);
      },
    });
    new Gauge({
      name: 'homing_client_connections',
      help: 'Client connections held now, before and after login: what the capacity bounds',
      registers,
      collect() {
        this.set(self.#admission?.open ?? 0);
      },
    });
    new Counter({
      name: 'homing_busy_refusals_total',
      help: 'Clients given the busy reply because the node was at its capacity',
      registers,
      collect() {
        this.reset();
        this.inc(self.#admission?.refused ?? 0);
      },
    });
  }

  watch(admission: Admission): void {
    this.#admission = admission;
  }

  localError(code: string, context: LocalErrorContext): void {
    this.#localErrors.inc({ code, context });
  }
}
