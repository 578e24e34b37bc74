import type { LocalErrorContext } from '@homing/proxy-core';
import { Counter, type Registry } from 'prom-client';

/** What the node fails for want of its own resources. */
export class CapacityMetrics {
  readonly #localErrors: Counter<'code' | 'context'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#localErrors = new Counter({
      name: 'homing_local_errors_total',
      help: "The node's own resource errors (EMFILE, EADDRNOTAVAIL...) on backend connects and probes; no backend is blamed for them",
      labelNames: ['code', 'context'],
      registers,
    });
  }

  localError(code: string, context: LocalErrorContext): void {
    this.#localErrors.inc({ code, context });
  }
}
