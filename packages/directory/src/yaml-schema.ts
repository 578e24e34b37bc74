import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { keysAt, suggest } from './did-you-mean.js';

export interface YamlIssue {
  /** Dotted key path, e.g. `directory.cache.ttl`; empty for the document itself. */
  readonly key: string;
  /** 1-based line in the file, when the key or its parent appears in it. */
  readonly line: number | undefined;
  readonly message: string;
}

/** A YAML file that failed to parse or validate; every issue names a key and a line. */
export class YamlSchemaError extends Error {
  override readonly name = 'YamlSchemaError';
  constructor(
    readonly file: string,
    readonly issues: readonly YamlIssue[],
  ) {
    super(issues.map((i) => formatIssue(file, i)).join('\n'));
  }
}

export function formatIssue(file: string, issue: YamlIssue): string {
  const where = issue.line === undefined ? file : `${file}:${issue.line}`;
  return issue.key === ''
    ? `${where}: ${issue.message}`
    : `${where}: ${issue.key}: ${issue.message}`;
}

/**
 * Parses YAML text and validates it with a zod schema. `transformScalars` (e.g. `${ENV}`
 * substitution) runs on each string after parsing, so line numbers stay those of the file.
 */
export function parseYaml<S extends z.ZodType>(
  text: string,
  schema: S,
  file: string,
  transformScalar?: (value: string, key: string) => string,
): z.output<S> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined) =>
    node?.range ? lines.linePos(node.range[0]).line : undefined;

  if (doc.errors.length > 0) {
    throw new YamlSchemaError(
      file,
      doc.errors.map((e) => ({
        key: '',
        line: e.linePos?.[0].line,
        message: e.message.split('\n')[0] ?? e.message,
      })),
    );
  }
  const issues: YamlIssue[] = [];
  const data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const substituted = transformScalar
    ? mapStrings(data, [], transformScalar, (key, message) => {
        issues.push({
          key,
          line: lineOf(doc.getIn(key.split('.'), true) as Node | undefined),
          message,
        });
      })
    : data;
  const result = schema.safeParse(substituted);
  if (result.success && issues.length === 0) return result.data;
  if (result.success) throw new YamlSchemaError(file, issues);
  for (const issue of result.error.issues) {
    if (issues.some((i) => i.key === issue.path.join('.'))) continue;
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const name of issue.keys) {
        const key = [...path, name].join('.');
        const meant = suggest(name, keysAt(schema, issue.path));
        issues.push({
          key,
          line: keyLine(doc.getIn(path, true) ?? doc.contents, name, lineOf),
          message: meant ? `unknown key (did you mean ${meant}?)` : 'unknown key',
        });
      }
      continue;
    }
    const missing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
    const message = missing ? `is required (${issue.expected})` : issue.message;
    issues.push({ key: path.join('.'), line: nearestLine(doc, path, lineOf), message });
  }
  throw new YamlSchemaError(
    file,
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)),
  );
}

type LineOf = (node: Node | undefined) => number | undefined;

/**
 * Finds the line of a key path in YAML text (or of its nearest ancestor), for problems found
 * after the schema passed: files the config names, addresses, catalog names.
 */
export function yamlLines(
  text: string,
): (path: readonly (string | number)[]) => number | undefined {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const lineOf = (node: Node | null | undefined) =>
    node?.range ? lines.linePos(node.range[0]).line : undefined;
  return (path) => nearestLine(doc, path.map(String), lineOf);
}

function findPair(parent: unknown, name: string) {
  return isMap(parent)
    ? parent.items.find((p) => isScalar(p.key) && String(p.key.value) === name)
    : undefined;
}

function keyLine(parent: unknown, name: string, lineOf: LineOf): number | undefined {
  return lineOf((findPair(parent, name)?.key as Node | undefined) ?? (parent as Node | undefined));
}

/** The line of the key itself, or of its closest ancestor when the key is missing. */
function nearestLine(doc: Document, path: string[], lineOf: LineOf): number | undefined {
  for (let n = path.length; n > 0; n -= 1) {
    const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1), true);
    const name = path[n - 1] as string;
    const pair = findPair(parent, name);
    if (pair) return lineOf(pair.key as Node);
    if (isSeq(parent)) {
      const item = parent.items[Number(name)];
      if (item) return lineOf(item as Node);
    }
  }
  return lineOf(doc.contents ?? undefined);
}

function mapStrings(
  value: unknown,
  path: string[],
  fn: (value: string, key: string) => string,
  fail: (key: string, message: string) => void,
): unknown {
  if (typeof value === 'string') {
    try {
      return fn(value, path.join('.'));
    } catch (error) {
      fail(path.join('.'), error instanceof Error ? error.message : String(error));
      return value;
    }
  }
  if (Array.isArray(value))
    return value.map((v, i) => mapStrings(v, [...path, String(i)], fn, fail));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, mapStrings(v, [...path, k], fn, fail)]),
    );
  }
  return value;
}
