// Loaded into the homing process by the bench (node --expose-gc --import): SIGUSR2 runs a full
// garbage collection, so that RSS before and after the idle sessions compares like with like.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
});
