import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * copying: passes while the user works (nothing to undo but the target's copy).
 * frozen: the user is frozen on the old home; --abort thaws, --resume goes on.
 * flipped: the directory names the new home; only flush, catch-up and thaw remain.
 */
export type Phase = 'copying' | 'frozen' | 'flipped';

export interface MoveRecord {
  readonly user: string;
  readonly login: string;
  readonly from: string;
  readonly to: string;
  readonly phase: Phase;
  readonly started: string;
  readonly updated: string;
}

/** The phase of one user's move, in a small JSON file: what --resume and --abort read. */
export class MoveState {
  readonly path: string;

  constructor(
    readonly dir: string,
    login: string,
  ) {
    this.path = join(dir, `${encodeURIComponent(login.toLowerCase())}.json`);
  }

  read(): MoveRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as MoveRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read the move record ${this.path}: ${String(error)}`);
    }
  }

  /** Records a new move; fails when one is recorded already (another mover, or an old one). */
  create(record: Omit<MoveRecord, 'updated' | 'started'>): MoveRecord {
    mkdirSync(this.dir, { recursive: true });
    const now = new Date().toISOString();
    const full = { ...record, started: now, updated: now };
    writeFileSync(this.path, `${JSON.stringify(full, null, 2)}\n`, { flag: 'wx' });
    return full;
  }

  /** Written to a temp file and renamed: a crash leaves the old phase or the new, never half. */
  update(record: MoveRecord, phase: Phase): MoveRecord {
    const next = { ...record, phase, updated: new Date().toISOString() };
    const temp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(next, null, 2)}\n`);
    renameSync(temp, this.path);
    return next;
  }

  remove(): void {
    rmSync(this.path, { force: true });
  }
}
