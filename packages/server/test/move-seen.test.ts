import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeMessage, identityOf, type MessageMeta } from '../src/move/identity.js';
import { SeenOnSource } from '../src/move/seen.js';

const date = new Date('2009-02-13T23:31:30Z');
const dir = mkdtempSync(join(tmpdir(), 'homing-seen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function meta(uid: number, identity: string): MessageMeta {
  return { uid, identity, flags: [], internalDate: date, size: 10 };
}

describe('SeenOnSource', () => {
  it('keeps the most copies of each identity a mailbox held, across a resume', () => {
    const path = join(dir, 'a.seen');
    const first = SeenOnSource.start(path);
    first.noteMailbox('INBOX', [meta(1, 'a'), meta(2, 'a'), meta(3, 'b')]);
    first.noteMailbox('INBOX', [meta(1, 'a')]);
    first.noteScript('main', 'd1');
    const again = SeenOnSource.load(path, { write: true });
    expect([...again.counts('INBOX')]).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect(again.counts('Other').size).toBe(0);
    expect(again.hasScript('main', 'd1')).toBe(true);
    expect(again.hasScript('main', 'd2')).toBe(false);
    again.noteMailbox('Other', [meta(1, 'c')]);
    expect([...SeenOnSource.load(path, { write: false }).counts('Other')]).toEqual([['c', 1]]);
  });

  it('a new move starts from nothing; a read-only load writes nothing', () => {
    const path = join(dir, 'b.seen');
    SeenOnSource.start(path).noteMailbox('INBOX', [meta(1, 'a')]);
    const readOnly = SeenOnSource.load(path, { write: false });
    readOnly.noteMailbox('INBOX', [meta(1, 'z')]);
    expect(SeenOnSource.load(path, { write: false }).counts('INBOX').has('z')).toBe(false);
    expect(SeenOnSource.start(path).counts('INBOX').size).toBe(0);
    expect(SeenOnSource.load(path, { write: false }).counts('INBOX').size).toBe(0);
    expect(SeenOnSource.load(join(dir, 'none.seen'), { write: false }).counts('INBOX').size).toBe(
      0,
    );
  });
});

describe('describeMessage', () => {
  it('names the Message-ID, internal date and size', () => {
    const m = { ...meta(1, identityOf('<a b@x>', date, 10)) };
    expect(describeMessage(m)).toBe('<a b@x> 2009-02-13T23:31:30.000Z 10 bytes');
    const bare = { ...meta(1, identityOf(undefined, date, 10, Buffer.from('Subject: x\r\n'))) };
    expect(describeMessage(bare)).toBe('no Message-ID 2009-02-13T23:31:30.000Z 10 bytes');
  });
});
