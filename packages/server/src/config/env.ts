const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * `${NAME}` in any string value is replaced by the environment variable NAME (so secrets stay
 * out of the file); `$${` stands for a literal `${`. An unset variable is an error, not "".
 */
export function substituteEnv(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(REFERENCE, (_match, name: string | undefined) => {
    if (name === undefined) return '${';
    const found = env[name];
    if (found === undefined) throw new Error(`environment variable ${name} is not set`);
    return found;
  });
}
