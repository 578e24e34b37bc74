import type { LookupResult } from '@homing/directory';

/** A lookup result as shown to an operator: everything but secrets (master passwords). */
export function describeLookup(input: string, result: LookupResult) {
  const route = result.route;
  return {
    input,
    key: result.key ?? null,
    found: route !== undefined,
    origin: result.origin,
    stale: result.stale,
    age_ms: Math.round(result.ageMs),
    ...(route && {
      login: route.login,
      home: route.home,
      entry: route.id,
      backend: {
        name: route.backend.name,
        host: route.backend.host,
        literal: route.backend.literal,
        endpoints: route.backend.endpoints,
        master_user: route.backend.master?.user ?? null,
      },
      attributes: route.attributes,
    }),
  };
}

export type LookupDescription = ReturnType<typeof describeLookup>;

/** The human-readable form printed by `homing lookup`. */
export function formatLookup(d: LookupDescription): string {
  const origin = d.stale
    ? `${d.origin} (stale, ${d.age_ms} ms old: the directory is failing)`
    : d.origin;
  if (!d.found || !('backend' in d) || !d.backend) {
    return `${d.input}: no such user (looked up as ${d.key ?? 'nothing: not a valid address'}, from ${origin})\n`;
  }
  const services = Object.entries(d.backend.endpoints)
    .map(([protocol, e]) => `${protocol} ${e.port}${e.tls === 'none' ? '' : `/${e.tls}`}`)
    .join(', ');
  return [
    `${d.input}`,
    `  key       ${d.key}`,
    `  login     ${d.login}`,
    `  home      ${d.home}${d.backend.literal ? ' (literal host)' : ''}`,
    `  backend   ${d.backend.name} at ${d.backend.host}${services ? ` (${services})` : ''}`,
    `  entry     ${d.entry}`,
    `  origin    ${origin}`,
    '',
  ].join('\n');
}
