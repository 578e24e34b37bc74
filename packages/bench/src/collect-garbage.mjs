// Loaded into the homing process by the bench (node --expose-gc --import): SIGUSR2 runs a full
// garbage collection, so that RSS before and after the idle sessions compares like with like,
// and then writes process.memoryUsage() to HOMING_BENCH_MEMORY.PID.json, since RSS alone does
// not tell the heap from what sockets and buffers hold outside it. Workers inherit the preload.
import { writeFileSync } from 'node:fs';

const prefix = process.env.HOMING_BENCH_MEMORY;
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  if (prefix) writeFileSync(`${prefix}.${process.pid}.json`, JSON.stringify(process.memoryUsage()));
});
