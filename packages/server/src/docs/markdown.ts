import { z } from 'zod';
import { configSchema } from '../config/schema.js';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  required?: string[];
  minimum?: number;
  maximum?: number;
}

interface Row {
  key: string;
  type: string;
  required: boolean;
  default: string;
  description: string;
}

const intro = `# Configuration reference

homing reads one YAML file (\`homing start -c FILE\`; default \`/etc/homing/homing.yaml\` or
\`$HOMING_CONFIG\`). \`homing check-config -c FILE\` validates it and checks what start would
fail on without binding anything: ports in range, one listener per address, certificate and
key files readable and paired, CA files, a submission service for a \`home\` submission
listener, and (for a users file) homes that name no backend or pool. It names the file, key
and line of every problem and exits 1; warnings (a home that will be taken as a host name
because \`allow_literal_hosts\` is on) do not fail it. \`homing check-config --effective\` prints
the config with every default filled in and secrets masked, in a form check-config accepts
again. This page is generated from the schema (\`npm run docs\`); a test fails when it
is out of date.

- **Secrets**: \`\${NAME}\` in any string is replaced by the environment variable NAME; an unset
  variable is an error. Write \`$\${\` for a literal \`\${\`.
- **Durations**: \`500ms\`, \`30s\`, \`5m\`, \`1h\`, \`1d\`, or a plain number of seconds.
- **Files** named in the config are relative to the config file.
- **Unknown keys** are errors, so a typo never silently falls back to a default; a key close
  to a known one is named (\`unknown key (did you mean watch?)\`).
`;

/** The configuration reference, generated from the zod schema so it cannot drift. */
export function renderConfigDocs(): string {
  const schema = z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  const sections: string[] = [intro];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const rows: Row[] = [];
    collect(child, name, (schema.required ?? []).includes(name), rows);
    sections.push(`## \`${name}\`\n\n${child.description ?? ''}\n\n${table(rows)}`);
  }
  return `${sections.join('\n').trimEnd()}\n`;
}

function collect(schema: JsonSchema, key: string, required: boolean, rows: Row[]): void {
  rows.push({
    key,
    type: typeName(schema),
    required,
    default:
      schema.default === undefined || schema.type === 'object'
        ? ''
        : `\`${JSON.stringify(schema.default)}\``,
    description: schema.description ?? '',
  });
  if (schema.properties) {
    for (const [name, child] of Object.entries(schema.properties)) {
      collect(child, `${key}.${name}`, (schema.required ?? []).includes(name), rows);
    }
  }
  const item = schema.items;
  if (schema.type === 'array' && item?.properties) {
    for (const [name, child] of Object.entries(item.properties)) {
      collect(child, `${key}[].${name}`, (item.required ?? []).includes(name), rows);
    }
  }
  const extra = schema.additionalProperties;
  if (extra && typeof extra === 'object' && extra.properties) {
    for (const [name, child] of Object.entries(extra.properties)) {
      collect(child, `${key}.<name>.${name}`, (extra.required ?? []).includes(name), rows);
    }
  }
}

function typeName(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map((v) => String(v)).join(' \\| ');
  if (schema.anyOf) {
    const types = schema.anyOf.map(typeName);
    return types.includes('number') && types.includes('string') ? 'duration' : types.join(' \\| ');
  }
  if (schema.type === 'array') return `list of ${schema.items ? typeName(schema.items) : 'any'}`;
  if (schema.type === 'object') {
    const extra = schema.additionalProperties;
    if (extra && typeof extra === 'object' && !extra.properties) return `map of ${typeName(extra)}`;
    return extra && typeof extra === 'object' ? 'map of sections' : 'section';
  }
  if (schema.type === 'integer') {
    const { minimum: min, maximum: max } = schema;
    if (min !== undefined && max !== undefined && max < Number.MAX_SAFE_INTEGER) {
      return `integer ${min}–${max}`;
    }
    return min === undefined ? 'integer' : `integer ≥ ${min}`;
  }
  if (Array.isArray(schema.type)) {
    const t = schema.type;
    return t.includes('number') && t.includes('string') ? 'duration' : t.join(' \\| ');
  }
  return schema.type ?? 'any';
}

function table(rows: Row[]): string {
  const esc = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const lines = ['| key | type | default | description |', '| --- | --- | --- | --- |'];
  for (const r of rows) {
    const key = `\`${r.key}\`${r.required ? ' (required)' : ''}`;
    lines.push(`| ${key} | ${r.type} | ${esc(r.default)} | ${esc(r.description)} |`);
  }
  return `${lines.join('\n')}\n`;
}
