import { describe, expect, it } from 'vitest';
import { batchesOf } from '../src/move/batches.js';
import { diffMailbox, inSync } from '../src/move/diff.js';
import { identityOf, type MessageMeta, messageIdOf, normalFlags } from '../src/move/identity.js';
import { type MailboxInfo, planMailboxes, translatePath } from '../src/move/mailboxes.js';

const date = new Date('2009-02-13T23:31:30Z');

function meta(uid: number, identity: string, flags: string[] = []): MessageMeta {
  return { uid, identity, flags, internalDate: date, size: 10 };
}

describe('identityOf', () => {
  type Args = [string, Date, number];
  it.each<[string, Args, Args, boolean]>([
    ['same Message-ID, date and size', ['<a@x>', date, 10], ['<a@x>', date, 10], true],
    [
      'another internal date',
      ['<a@x>', date, 10],
      ['<a@x>', new Date(date.getTime() + 1000), 10],
      false,
    ],
    ['another size', ['<a@x>', date, 10], ['<a@x>', date, 11], false],
    ['another Message-ID', ['<a@x>', date, 10], ['<b@x>', date, 10], false],
  ])('%s', (_name, a, b, same) => {
    expect(identityOf(...a) === identityOf(...b)).toBe(same);
  });

  it('falls back to a hash of the header block without a Message-ID', () => {
    const one = identityOf(undefined, date, 10, Buffer.from('Subject: one\r\n\r\n'));
    const two = identityOf(undefined, date, 10, Buffer.from('Subject: two\r\n\r\n'));
    expect(one).toMatch(/^hdr:/);
    expect(one).not.toBe(two);
    expect(identityOf('', date, 10, Buffer.from('Subject: one\r\n\r\n'))).toBe(one);
  });
});

describe('messageIdOf', () => {
  it.each([
    ['Message-ID: <a@x>\r\n\r\n', '<a@x>'],
    ['message-id:<a@x>  \r\n\r\n', '<a@x>'],
    ['Message-ID:\r\n <folded@x>\r\n\r\n', '<folded@x>'],
    ['\r\n', undefined],
    ['Message-ID: \r\n\r\n', undefined],
  ])('%j → %s', (text, id) => {
    expect(messageIdOf(Buffer.from(text))).toBe(id);
  });
});

describe('normalFlags', () => {
  it('sorts and leaves out \\Recent', () => {
    expect(normalFlags(new Set(['\\Seen', '$label1', '\\Recent', '\\Flagged']))).toEqual([
      '$label1',
      '\\Flagged',
      '\\Seen',
    ]);
  });
});

describe('diffMailbox', () => {
  it.each([
    ['empty target: copy everything', [meta(1, 'a'), meta(2, 'b')], [], ['a', 'b'], [], []],
    ['second pass: only what is new', [meta(1, 'a'), meta(2, 'b')], [meta(7, 'a')], ['b'], [], []],
    ['a duplicate is a message too', [meta(1, 'a'), meta(2, 'a')], [meta(7, 'a')], ['a'], [], []],
    [
      'flags changed since the last pass',
      [meta(1, 'a', ['\\Seen'])],
      [meta(7, 'a', [])],
      [],
      [{ uid: 7, flags: ['\\Seen'] }],
      [],
    ],
    ['deleted on the source since', [meta(1, 'a')], [meta(7, 'a'), meta(8, 'b')], [], [], [8]],
  ] as const)('%s', (_name, source, target, copy, setFlags, remove) => {
    const diff = diffMailbox(source, target);
    expect(diff.copy.map((m) => m.identity)).toEqual(copy);
    expect(diff.setFlags).toEqual(setFlags);
    expect(diff.remove).toEqual(remove);
    expect(inSync(diff)).toBe(copy.length + setFlags.length + remove.length === 0);
  });
});

describe('planMailboxes', () => {
  const box = (path: string, extra: Partial<MailboxInfo> = {}): MailboxInfo => ({
    path,
    delimiter: '.',
    selectable: true,
    subscribed: false,
    ...extra,
  });

  it('writes the hierarchy with the target delimiter, parents first, subscriptions kept', () => {
    const plan = planMailboxes(
      [box('Work.2024.Q1', { subscribed: true }), box('INBOX'), box('Work'), box('Work.2024')],
      [box('INBOX'), { ...box('Work'), delimiter: '/' }],
      '/',
    );
    expect(plan.map((p) => [p.targetPath, p.create, p.subscribe])).toEqual([
      ['INBOX', false, false],
      ['Work', false, false],
      ['Work/2024', true, false],
      ['Work/2024/Q1', true, true],
    ]);
  });

  it('says when the target gives a name another special use', () => {
    const [plan] = planMailboxes(
      [box('Sent', { specialUse: '\\Sent' })],
      [box('Sent', { specialUse: '\\Archive' })],
      '.',
    );
    expect(plan?.specialUseMismatch).toEqual({ source: '\\Sent', target: '\\Archive' });
  });

  it('refuses a name holding the target delimiter', () => {
    expect(() => translatePath('a/b.c', '.', '/')).toThrow(/delimiter/);
    expect(translatePath('inbox', '.', '/')).toBe('INBOX');
  });
});

describe('batchesOf', () => {
  const sized = (uid: number, size: number): MessageMeta => ({ ...meta(uid, `m${uid}`), size });
  const limits = { bytes: 100, messages: 3 };

  it.each([
    ['nothing', [], []],
    ['under both limits', [sized(1, 10), sized(2, 10)], [[1, 2]]],
    ['by count', [1, 2, 3, 4].map((u) => sized(u, 1)), [[1, 2, 3], [4]]],
    ['by bytes', [sized(1, 60), sized(2, 60), sized(3, 10)], [[1], [2, 3]]],
    [
      'a message larger than the limit goes alone',
      [sized(1, 10), sized(2, 500), sized(3, 10)],
      [[1], [2], [3]],
    ],
  ] as const)('%s', (_name, messages, uids) => {
    expect(batchesOf(messages, limits).map((b) => b.map((m) => m.uid))).toEqual(uids);
  });
});
