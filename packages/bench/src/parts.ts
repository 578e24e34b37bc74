/** The parts of the bench, which BENCH_ONLY picks from (all of them by default). */
export const parts = [
  'tuning',
  'idle',
  'imap-logins',
  'fetch',
  'pop3-logins',
  'pop3-pass',
  'retr',
  'tls',
  'smtp',
] as const;

export type Part = (typeof parts)[number];

export function partsFrom(text: string | undefined): ReadonlySet<Part> {
  if (text === undefined || text.trim() === '') return new Set(parts);
  const chosen = new Set<Part>();
  for (const name of text
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)) {
    if (!(parts as readonly string[]).includes(name)) {
      throw new Error(`BENCH_ONLY: ${JSON.stringify(name)} is none of ${parts.join(', ')}`);
    }
    chosen.add(name as Part);
  }
  return chosen;
}
