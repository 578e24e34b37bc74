import cluster, { type Worker } from 'node:cluster';

/** A request from the primary to its workers, and each worker's answer. */
export interface PoolRequest {
  readonly type: 'homing:request';
  readonly id: number;
  readonly op:
    | 'metrics'
    | 'ready'
    | 'sessions'
    | 'kick'
    | 'flush'
    | 'freeze'
    | 'frozen'
    | 'thaw'
    | 'lookup'
    | 'backends'
    | 'reload'
    | 'reload-refused'
    | 'drain'
    | 'load'
    | 'steer';
  readonly args: unknown[];
}

export interface PoolResponse {
  readonly type: 'homing:response';
  readonly id: number;
  readonly result?: unknown;
  readonly error?: string;
}

let nextId = 0;
const pending = new Map<
  number,
  { results: unknown[]; waiting: number; done: (r: unknown[]) => void }
>();

/** Primary side: ask every live worker; resolves with their answers (failed ones left out). */
export function askWorkers(
  op: PoolRequest['op'],
  args: unknown[] = [],
  timeoutMs = 5000,
): Promise<unknown[]> {
  const workers = Object.values(cluster.workers ?? {}).filter(
    (w): w is Worker => !!w?.isConnected(),
  );
  if (workers.length === 0) return Promise.resolve([]);
  const id = nextId++;
  return new Promise((resolve) => {
    const finish = (results: unknown[]) => {
      clearTimeout(timer);
      pending.delete(id);
      resolve(results);
    };
    const entry = { results: [] as unknown[], waiting: workers.length, done: finish };
    const timer = setTimeout(() => finish(entry.results), timeoutMs);
    pending.set(id, entry);
    for (const worker of workers)
      worker.send({ type: 'homing:request', id, op, args } satisfies PoolRequest);
  });
}

/** Primary side: call once, to route worker answers to the requests waiting for them. */
export function listenToWorkers(): void {
  cluster.on('message', (_worker, message: PoolResponse) => {
    if (message?.type !== 'homing:response') return;
    const entry = pending.get(message.id);
    if (!entry) return;
    if (message.error === undefined) entry.results.push(message.result);
    entry.waiting -= 1;
    if (entry.waiting === 0) entry.done(entry.results);
  });
}

/** Worker side: answer the primary's requests with `handle`. */
export function serveWorker(
  handle: (op: PoolRequest['op'], args: unknown[]) => Promise<unknown>,
): void {
  process.on('message', (message: PoolRequest) => {
    if (message?.type !== 'homing:request') return;
    handle(message.op, message.args).then(
      (result) =>
        process.send?.({ type: 'homing:response', id: message.id, result } satisfies PoolResponse),
      (error: unknown) =>
        process.send?.({
          type: 'homing:response',
          id: message.id,
          error: String(error),
        } satisfies PoolResponse),
    );
  });
}
