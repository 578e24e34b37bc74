import { createRequire } from 'node:module';

/**
 * One of proxy-core's native modules (native/NAME.c, built into dist/NAME.node by
 * scripts/build-native.mjs), or why it is not there: not Linux, or not built.
 */
export function loadNative<T>(name: string): { module?: T; why: string } {
  if (process.platform !== 'linux') return { why: `not on ${process.platform}` };
  try {
    // Beside dist/ from both src/ (tests) and dist/ (the build).
    const module = createRequire(import.meta.url)(`../dist/${name}.node`) as T;
    return { module, why: 'built' };
  } catch (error) {
    return { why: `not built (${(error as Error).message.split('\n')[0]})` };
  }
}
