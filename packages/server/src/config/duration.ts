import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses `500ms`, `30s`, `5m`, `1h`, `1d`, or a bare number of seconds, into milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number')
    return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const match = PATTERN.exec(value.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (UNITS[match[2] as string] as number));
}

/** Milliseconds written back in the largest unit that keeps them whole: 30000 → `30s`. */
export function formatDuration(ms: number): string {
  const [unit = 'ms'] = Object.entries(UNITS)
    .filter(([, size]) => ms > 0 && ms % size === 0)
    .sort(([, a], [, b]) => b - a)
    .map(([name]) => name);
  return `${ms / (UNITS[unit] as number)}${unit}`;
}

/** The schemas of duration settings, so that the effective config can write them back. */
export const durationSchemas = new WeakSet<z.ZodType>();

/** A duration setting: written `30s`, `5m`, `500ms` or a number of seconds; read as milliseconds. */
export function duration(description: string, fallback: string) {
  const schema = z
    .union([z.number(), z.string()])
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `"${value}" is not a duration (e.g. 500ms, 30s, 5m, 1h)`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .describe(description);
  durationSchemas.add(schema);
  return schema;
}
