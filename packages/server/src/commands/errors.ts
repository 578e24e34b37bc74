import { DirectoryError, YamlSchemaError } from '@homing/directory';

/** Prints an error the way an operator wants to read it and returns the exit code. */
export function reportError(error: unknown): number {
  if (error instanceof YamlSchemaError) {
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
  if (error instanceof DirectoryError) {
    process.stderr.write(`directory ${error.code.toLowerCase()}: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
}
