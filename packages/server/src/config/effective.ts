import { stringify } from 'yaml';
import type { z } from 'zod';
import { durationSchemas, formatDuration } from './duration.js';
import { type Config, configSchema } from './schema.js';

const SECRET_KEYS = new Set(['password', 'bind_password', 'token']);
/** Long enough for every length rule on a secret (the admin token wants 16). */
const MASK = '****************';

/**
 * The config as the node runs it, every default filled in and secrets masked, as YAML that
 * check-config accepts again.
 */
export function effectiveConfig(config: Config): string {
  return stringify(render(configSchema, config, ''), { lineWidth: 0 });
}

function render(schema: z.ZodType, value: unknown, key: string): unknown {
  if (value === undefined || value === null) return value;
  if (durationSchemas.has(schema)) return formatDuration(value as number);
  if (typeof value === 'string') return mask(key, value);
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
    case 'readonly':
      return render(def.innerType as z.ZodType, value, key);
    case 'pipe':
      return render(def.in as z.ZodType, value, key);
    case 'object': {
      const shape = def.shape as Record<string, z.ZodType>;
      return Object.fromEntries(
        Object.entries(value as object).map(([k, v]) => [k, shape[k] ? render(shape[k], v, k) : v]),
      );
    }
    case 'array':
      return (value as unknown[]).map((v) => render(def.element as z.ZodType, v, key));
    case 'record':
      return Object.fromEntries(
        Object.entries(value as object).map(([k, v]) => [
          k,
          render(def.valueType as z.ZodType, v, k),
        ]),
      );
    default:
      return value;
  }
}

function mask(key: string, value: string): string {
  if (SECRET_KEYS.has(key)) return MASK;
  // A password in a Redis URL: redis://user:secret@host
  if (key === 'url') return value.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, `$1${MASK}@`);
  return value;
}
