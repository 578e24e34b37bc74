import type { z } from 'zod';

type Def = { type: string } & Record<string, unknown>;

function defOf(schema: unknown): Def | undefined {
  return (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def;
}

/** The keys an object schema at `path` (into the data) accepts; empty when there is none. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let def = defOf(schema);
  const rest = [...path];
  for (let guard = 0; def && guard < 100; guard += 1) {
    switch (def.type) {
      case 'optional':
      case 'default':
      case 'prefault':
      case 'nullable':
      case 'readonly':
        def = defOf(def.innerType);
        continue;
      case 'pipe':
        def = defOf(def.in);
        continue;
      case 'object': {
        const shape = def.shape as Record<string, unknown>;
        if (rest.length === 0) return Object.keys(shape);
        def = defOf(shape[String(rest.shift())]);
        continue;
      }
      case 'array':
        rest.shift();
        def = defOf(def.element);
        continue;
      case 'record':
        rest.shift();
        def = defOf(def.valueType);
        continue;
      default:
        return [];
    }
  }
  return [];
}

/** The known key closest to a mistyped one, when it is close enough to be meant. */
export function suggest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(3, Math.floor(name.length / 3)));
  for (const key of known) {
    const d = distance(name.toLowerCase(), key.toLowerCase());
    if (d < bestDistance || (d === bestDistance && best === undefined)) {
      best = key;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
export function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3 || a.length > 64 || b.length > 64) return 99;
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const row = rows[i] as number[];
      const above = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(
        (above[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (above[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}
