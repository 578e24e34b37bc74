import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatIssue, parseYaml, YamlSchemaError } from '../src/yaml-schema.js';

const schema = z.strictObject({
  name: z.string(),
  server: z.strictObject({
    host: z.string(),
    port: z.number().int(),
    tls: z.strictObject({ verify: z.boolean().default(true) }).optional(),
  }),
  tags: z.array(z.string()).default([]),
});

const good = `name: front
server:
  host: mail.example.com
  port: 143
  tls:
    verify: false
tags: [a, b]
`;

/** The YamlSchemaError that parsing `text` throws. */
function errorOf(text: string, transform?: (value: string, key: string) => string) {
  try {
    parseYaml(text, schema, 'homing.yaml', transform);
  } catch (error) {
    if (error instanceof YamlSchemaError) return error;
    throw error;
  }
  throw new Error('expected a YamlSchemaError');
}

describe('parseYaml', () => {
  it('returns the validated data, defaults filled in', () => {
    expect(parseYaml(good, schema, 'homing.yaml')).toEqual({
      name: 'front',
      server: { host: 'mail.example.com', port: 143, tls: { verify: false } },
      tags: ['a', 'b'],
    });
    expect(parseYaml('name: x\nserver: { host: h, port: 1 }\n', schema, 'f').tags).toEqual([]);
  });

  it('names the key and line of a value of the wrong type', () => {
    const error = errorOf(good.replace('port: 143', 'port: "143"'));
    expect(error.file).toBe('homing.yaml');
    expect(error.issues).toEqual([expect.objectContaining({ key: 'server.port', line: 4 })]);
    expect(error.message).toMatch(/^homing\.yaml:4: server\.port: /);
  });

  it('names an unknown top-level key and its own line', () => {
    const error = errorOf(`${good}colour: blue\n`);
    expect(error.issues).toEqual([
      { key: 'colour', line: 8, message: expect.stringContaining('unknown key') },
    ]);
    expect(error.message).toBe('homing.yaml:8: colour: unknown key');
  });

  it('names a nested unknown key and its own line', () => {
    const error = errorOf(good.replace('    verify: false', '    verify: false\n    verfiy: true'));
    expect(error.issues).toEqual([
      expect.objectContaining({
        key: 'server.tls.verfiy',
        line: 7,
        message: 'unknown key (did you mean verify?)',
      }),
    ]);
  });

  it('names every unknown key of one map on its own line', () => {
    const error = errorOf(good.replace('  port: 143', '  port: 143\n  prot: 1\n  hots: x'));
    expect(error.issues.map((i) => [i.key, i.line])).toEqual([
      ['server.prot', 5],
      ['server.hots', 6],
    ]);
  });

  it("names a missing required key with its parent's line", () => {
    const error = errorOf(good.replace('  port: 143\n', ''));
    expect(error.issues).toEqual([expect.objectContaining({ key: 'server.port', line: 2 })]);
    expect(error.message).toMatch(/^homing\.yaml:2: server\.port: /);
  });

  it('names the first line for a missing top-level key', () => {
    const error = errorOf(good.replace('name: front\n', ''));
    expect(error.issues).toEqual([expect.objectContaining({ key: 'name', line: 1 })]);
  });

  it('names the line of a bad item in a list', () => {
    const error = errorOf(good.replace('tags: [a, b]', 'tags:\n  - a\n  - 7'));
    expect(error.issues).toEqual([expect.objectContaining({ key: 'tags.1', line: 9 })]);
  });

  it('names the line of a YAML syntax error', () => {
    const error = errorOf('name: front\nserver:\n  host: [mail.example.com\n  port: 143\n');
    expect(error.issues.length).toBeGreaterThan(0);
    const lines = error.issues.map((i) => i.line);
    expect(lines.every((line) => line !== undefined && line >= 3)).toBe(true);
    expect(error.message).toMatch(/^homing\.yaml:\d+: /);
  });

  it('names the line of a bad indentation', () => {
    const error = errorOf('name: front\nserver:\n  host: h\n port: 1\n');
    expect(error.issues[0]?.line).toBe(4);
  });

  it('refuses a duplicate key', () => {
    const error = errorOf(good.replace('  port: 143', '  port: 143\n  port: 144'));
    expect(error.issues.length).toBeGreaterThan(0);
    expect(error.issues[0]?.line).toBe(5);
    expect(error.message.toLowerCase()).toContain('unique');
  });

  it('transforms every string with its key, keeping the lines of the file', () => {
    const seen: string[] = [];
    const data = parseYaml(good, schema, 'homing.yaml', (value, key) => {
      seen.push(key);
      return value.toUpperCase();
    });
    expect(data.server.host).toBe('MAIL.EXAMPLE.COM');
    expect(data.tags).toEqual(['A', 'B']);
    expect(seen).toEqual(['name', 'server.host', 'tags.0', 'tags.1']);
  });

  it('names the key and line where a transform failed', () => {
    const text = good.replace('host: mail.example.com', 'host: ${MAIL_HOST}');
    const error = errorOf(text, (value) => {
      if (value.includes('${')) throw new Error('MAIL_HOST is not set');
      return value;
    });
    expect(error.issues).toEqual([
      { key: 'server.host', line: 3, message: 'MAIL_HOST is not set' },
    ]);
    expect(error.message).toBe('homing.yaml:3: server.host: MAIL_HOST is not set');
  });

  it('names the line of a transform failure inside a list', () => {
    const error = errorOf(good.replace('tags: [a, b]', 'tags:\n  - a\n  - b'), (value) => {
      if (value === 'b') throw new Error('no b');
      return value;
    });
    expect(error.issues).toEqual([{ key: 'tags.1', line: 9, message: 'no b' }]);
  });
});

describe('formatIssue', () => {
  it('writes file:line: key: message, leaving out what is unknown', () => {
    expect(formatIssue('f.yaml', { key: 'a.b', line: 3, message: 'bad' })).toBe(
      'f.yaml:3: a.b: bad',
    );
    expect(formatIssue('f.yaml', { key: '', line: undefined, message: 'bad' })).toBe('f.yaml: bad');
  });
});
