import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { distance, keysAt, suggest } from '../src/did-you-mean.js';
import { parseYaml, YamlSchemaError } from '../src/yaml-schema.js';

const schema = z.strictObject({
  listeners: z
    .array(z.strictObject({ listen: z.string(), protocol: z.string().optional() }))
    .default([]),
  backends: z.record(z.string(), z.strictObject({ host: z.string() })).default({}),
  limits: z
    .strictObject({ idle_timeout: z.number().default(1), line_bytes: z.number().default(1) })
    .prefault({}),
});

describe('distance', () => {
  it.each([
    ['', '', 0],
    ['abc', 'abc', 0],
    ['wach', 'watch', 1],
    ['lisetn', 'listen', 1],
    ['abc', '', 3],
    ['x'.repeat(65), 'x'.repeat(65), 99],
    ['short', 'a much longer key', 99],
  ])('%j to %j: %d', (a, b, d) => {
    expect(distance(a, b)).toBe(d);
  });
});

describe('suggest', () => {
  const known = ['idle_timeout', 'line_bytes', 'listen', 'protocol'];
  it.each([
    ['idle_timeuot', 'idle_timeout'],
    ['IDLE_TIMEOUT', 'idle_timeout'],
    ['lisen', 'listen'],
    ['protocl', 'protocol'],
    ['x', undefined],
    ['timeout', undefined],
    ['', undefined],
    ['\u0000\u0000', undefined],
    ['a'.repeat(10_000), undefined],
  ])('%j → %j', (name, expected) => {
    expect(suggest(name, known)).toBe(expected);
  });
});

describe('keysAt', () => {
  it.each([
    [[], ['listeners', 'backends', 'limits']],
    [['limits'], ['idle_timeout', 'line_bytes']],
    [
      ['listeners', 3],
      ['listen', 'protocol'],
    ],
    [['backends', 'any-name'], ['host']],
    [['limits', 'idle_timeout'], []],
    [['nowhere', 'at', 'all'], []],
  ])('%j → %j', (path, keys) => {
    expect(keysAt(schema, path)).toEqual(keys);
  });
});

describe('parseYaml', () => {
  it('names the key an unknown one was probably meant to be', () => {
    const text = 'limits:\n  idle_timeuot: 5\nlisteners:\n  - lisen: x\n    protocl: imap\n';
    let error: unknown;
    try {
      parseYaml(text, schema, 'homing.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(YamlSchemaError);
    expect((error as Error).message.split('\n')).toEqual([
      'homing.yaml:2: limits.idle_timeuot: unknown key (did you mean idle_timeout?)',
      'homing.yaml:4: listeners.0.listen: is required (string)',
      'homing.yaml:4: listeners.0.lisen: unknown key (did you mean listen?)',
      'homing.yaml:5: listeners.0.protocl: unknown key (did you mean protocol?)',
    ]);
  });
});
