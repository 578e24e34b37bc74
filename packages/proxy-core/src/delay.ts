/** Resolves when at least `floorMs` have passed since `startedAt` (a `performance.now()` value). */
export async function atLeast(startedAt: number, floorMs: number): Promise<void> {
  const left = floorMs - (performance.now() - startedAt);
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
}
